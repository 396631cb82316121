/**
 * A reader's picture made into a Fashion-MNIST input, the way the dataset itself was made from
 * Zalando's product photos (Xiao, Rasul and Vollgraf 2017, "Fashion-MNIST", section 2): trim the
 * edges that are close to the background colour (within 5% of the full intensity), scale the
 * longest side to 28 pixels, centre it on a 28 x 28 canvas, negate the intensities (the photos
 * are dark garments on white: the dataset's are bright garments on black), greyscale. Then scaled
 * to [0, 1], as the model was trained. Pure functions: pixels in, pixels out.
 *
 * Where a reader's photo differs from Zalando's, the rules generalise as follows. The background
 * is the mean of the border pixels; the image is negated only when that is light (a photo of a
 * light garment on a dark cloth is already the right way round). The background level is mapped
 * to 0 and full contrast to 1, so an off-white or grey backdrop becomes the dataset's black, not a
 * dim grey rectangle around the garment. The paper's sharpening pass (a Gaussian of radius 1) is
 * left out: it changes a 28 x 28 image by a few grey levels and needs a second resampling.
 *
 * Resampling is area averaging: each output pixel is the mean of the source area it covers, with
 * partial pixels weighted by their overlap. A photo is scaled down by a factor of 20 to 300; a
 * point sampler (nearest, bilinear) reads only a few source pixels per output pixel and misses
 * thin straps and seams or aliases texture into noise, while the area mean keeps every pixel's
 * share, keeps the mean intensity, and is what PIL's `reduce`/`BOX` filter and OpenCV's
 * `INTER_AREA` compute for downscaling.
 */
export const SIZE = 28;
/** Fashion-MNIST's trim rule: "close" to the background is within 5% of the maximum intensity. */
export const TRIM_THRESHOLD = 0.05 * 255;

/** Decoded pixels, RGBA, 8 bits per channel, row-major. */
export interface RgbaImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** One channel, 0..255, row-major. */
export interface GreyImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** A rectangle of source pixels. */
export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * Composites an RGBA image over white, in place (a transparent product photo is a garment on
 * nothing, which a viewer shows on white), leaving alpha at 255. In place: a decoded photo can
 * be hundreds of megabytes.
 */
export function flattenOnWhite(img: RgbaImage): RgbaImage {
  const d = img.data;
  for (let p = 0; p < d.length; p += 4) {
    const a = d[p + 3];
    if (a === 255) continue;
    for (let c = 0; c < 3; c++) d[p + c] = Math.round((d[p + c] * a + 255 * (255 - a)) / 255);
    d[p + 3] = 255;
  }
  return img;
}

/**
 * The picture as the camera meant it to be seen: EXIF orientation `o` (1-8) applied, as viewers
 * and PIL's ImageOps.exif_transpose do (5-8 swap width and height).
 */
export function orient(img: RgbaImage, o: number): RgbaImage {
  if (o === 1) return img;
  const swap = o >= 5;
  const width = swap ? img.height : img.width;
  const height = swap ? img.width : img.height;
  // For each displayed pixel (x, y), the stored pixel it shows.
  const source: Record<number, (x: number, y: number) => [number, number]> = {
    2: (x, y) => [width - 1 - x, y],
    3: (x, y) => [width - 1 - x, height - 1 - y],
    4: (x, y) => [x, height - 1 - y],
    5: (x, y) => [y, x],
    6: (x, y) => [y, width - 1 - x],
    7: (x, y) => [height - 1 - y, width - 1 - x],
    8: (x, y) => [height - 1 - y, x],
  };
  const from = source[o];
  if (!from) return img;
  const data = new Uint8Array(img.data.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [sx, sy] = from(x, y);
      const s = (sy * img.width + sx) * 4;
      data.set(img.data.subarray(s, s + 4), (y * width + x) * 4);
    }
  }
  return { width, height, data };
}

/** Luma, ITU-R BT.601 (what PIL's convert('L') computes): 0.299 R + 0.587 G + 0.114 B, rounded. Alpha is ignored: flatten first. */
export function toGrey(img: RgbaImage): GreyImage {
  const out = new Uint8Array(img.width * img.height);
  const d = img.data;
  for (let p = 0, q = 0; q < out.length; p += 4, q++) out[q] = Math.round(0.299 * d[p] + 0.587 * d[p + 1] + 0.114 * d[p + 2]);
  return { width: img.width, height: img.height, data: out };
}

/** The mean of the outermost ring of pixels: the background a centred photo stands on. */
export function borderMean(g: GreyImage): number {
  const { width: w, height: h, data } = g;
  let sum = 0;
  let n = 0;
  for (let x = 0; x < w; x++) {
    sum += data[x];
    n++;
    if (h > 1) {
      sum += data[(h - 1) * w + x];
      n++;
    }
  }
  for (let y = 1; y < h - 1; y++) {
    sum += data[y * w];
    n++;
    if (w > 1) {
      sum += data[y * w + w - 1];
      n++;
    }
  }
  return sum / n;
}

/** The smallest box holding every pixel farther than `threshold` from `background`; null when there is none (a blank picture). */
export function trimBox(g: GreyImage, background: number, threshold = TRIM_THRESHOLD): Box | null {
  const { width: w, height: h, data } = g;
  let x0 = w;
  let y0 = h;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (Math.abs(data[y * w + x] - background) > threshold) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  return x1 < 0 ? null : { x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1 };
}

/** The size a box takes when its longest side is scaled to `size`, aspect ratio kept (at least 1 pixel). */
export function fitSize(box: { width: number; height: number }, size = SIZE): { width: number; height: number } {
  const scale = size / Math.max(box.width, box.height);
  return {
    width: Math.max(1, Math.min(size, Math.round(box.width * scale))),
    height: Math.max(1, Math.min(size, Math.round(box.height * scale))),
  };
}

/** Per output index along one axis: the source indices it covers (from `start`) and their weights, summing to 1. */
function areaWeights(n: number, out: number): { start: number; weights: Float64Array }[] {
  const scale = n / out;
  return Array.from({ length: out }, (_, o) => {
    const lo = o * scale;
    const hi = (o + 1) * scale;
    const start = Math.floor(lo);
    const end = Math.min(n, Math.ceil(hi));
    const weights = new Float64Array(end - start);
    for (let i = start; i < end; i++) weights[i - start] = (Math.min(hi, i + 1) - Math.max(lo, i)) / scale;
    return { start, weights };
  });
}

/** Where a plane's values sit in a buffer: pixel (x, y) is `data[(y * width + x) * stride + offset]`. */
export interface Plane {
  data: ArrayLike<number>;
  width: number;
  stride?: number;
  offset?: number;
}

/**
 * Area-averaging resample of `box` of a plane to `outWidth` x `outHeight` (row-major): rows
 * first, then columns, each output pixel the overlap-weighted mean of the source pixels it covers.
 */
export function areaResize(plane: Plane, box: Box, outWidth: number, outHeight: number): Float32Array {
  const { data, width } = plane;
  const stride = plane.stride ?? 1;
  const offset = plane.offset ?? 0;
  const cols = areaWeights(box.width, outWidth);
  const rows = areaWeights(box.height, outHeight);
  // Each source row of the box, resampled to outWidth columns.
  const across = new Float64Array(box.height * outWidth);
  for (let y = 0; y < box.height; y++) {
    const rowStart = (box.y + y) * width + box.x;
    for (let o = 0; o < outWidth; o++) {
      const { start, weights } = cols[o];
      let sum = 0;
      for (let i = 0; i < weights.length; i++) sum += weights[i] * data[(rowStart + start + i) * stride + offset];
      across[y * outWidth + o] = sum;
    }
  }
  const out = new Float32Array(outWidth * outHeight);
  for (let o = 0; o < outHeight; o++) {
    const { start, weights } = rows[o];
    for (let x = 0; x < outWidth; x++) {
      let sum = 0;
      for (let i = 0; i < weights.length; i++) sum += weights[i] * across[(start + i) * outWidth + x];
      out[o * outWidth + x] = sum;
    }
  }
  return out;
}

/** What the conversion did, for the report and index.json. */
export interface Conversion {
  /** 28 x 28, row-major, in [0, 1]: the model's input */
  pixels: Float32Array;
  /** the border pixels' mean grey level, 0..255 */
  background: number;
  /** whether the intensities were negated (the background was light) */
  inverted: boolean;
  /** the trimmed box of the source image; null for a blank picture (all background) */
  box: Box | null;
  /** the size the box was scaled to inside the 28 x 28 canvas */
  fitted: { width: number; height: number };
}

/**
 * The Fashion-MNIST conversion of a greyscale picture: background from the border, trim, fit the
 * longest side to 28 by area averaging, centre on black, negate when the background is light, map
 * the background to 0 and full contrast to 1.
 */
export function toFashionMnist(g: GreyImage, size = SIZE): Conversion {
  const background = borderMean(g);
  const inverted = background > 127.5;
  const pixels = new Float32Array(size * size);
  const box = trimBox(g, background);
  if (!box) return { pixels, background, inverted, box, fitted: { width: 0, height: 0 } };
  const fitted = fitSize(box, size);
  const scaled = areaResize({ data: g.data, width: g.width }, box, fitted.width, fitted.height);
  // The garment's intensity runs from the background's level (0) to the far end of the scale (1).
  const level = inverted ? 255 - background : background;
  const range = 255 - level;
  const left = Math.floor((size - fitted.width) / 2);
  const top = Math.floor((size - fitted.height) / 2);
  for (let y = 0; y < fitted.height; y++) {
    for (let x = 0; x < fitted.width; x++) {
      const v = scaled[y * fitted.width + x];
      const intensity = inverted ? 255 - v : v;
      pixels[(top + y) * size + left + x] = range > 0 ? Math.min(1, Math.max(0, (intensity - level) / range)) : 0;
    }
  }
  return { pixels, background, inverted, box, fitted };
}

/** A small colour copy of the picture (longest side at most `maxSide`), RGB in [0, 1], row-major: what the report shows as the original. */
export function preview(img: RgbaImage, maxSide: number): { width: number; height: number; rgb: Float32Array } {
  const whole = { x: 0, y: 0, width: img.width, height: img.height };
  const { width, height } = Math.max(img.width, img.height) > maxSide ? fitSize(img, maxSide) : img;
  const planes = [0, 1, 2].map((c) => areaResize({ data: img.data, width: img.width, stride: 4, offset: c }, whole, width, height));
  const rgb = new Float32Array(width * height * 3);
  for (let p = 0; p < width * height; p++) for (let c = 0; c < 3; c++) rgb[p * 3 + c] = planes[c][p] / 255;
  return { width, height, rgb };
}
