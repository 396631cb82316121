/**
 * The pure parts of --image: the header checks (pipeline/catalog/image-file.ts) and the
 * Fashion-MNIST conversion (pipeline/data/image-convert.ts), on pixels and bytes made here.
 */
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { MAX_IMAGE_SIDE, NotAnImage, readImageHeader, sizeProblem } from '../pipeline/catalog/image-file.js';
import { areaResize, borderMean, fitSize, flattenOnWhite, orient, preview, toFashionMnist, toGrey, trimBox, type GreyImage } from '../pipeline/data/image-convert.js';

/** A grey picture: `background` everywhere, `value` inside the box. */
function picture(width: number, height: number, background: number, box: { x: number; y: number; width: number; height: number }, value: number): GreyImage {
  const data = new Uint8Array(width * height).fill(background);
  for (let y = box.y; y < box.y + box.height; y++) for (let x = box.x; x < box.x + box.width; x++) data[y * width + x] = value;
  return { width, height, data };
}

/** The rows and columns of a 28 x 28 input holding a pixel above `t`. */
function extentOf(pixels: Float32Array, t = 0.5) {
  const rows: number[] = [];
  const cols: number[] = [];
  for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) if (pixels[y * 28 + x] > t) rows.push(y), cols.push(x);
  return { top: Math.min(...rows), bottom: Math.max(...rows), left: Math.min(...cols), right: Math.max(...cols) };
}

describe('the Fashion-MNIST conversion', () => {
  it('inverts a light background and leaves a dark one: the garment is bright on black either way', () => {
    const onWhite = toFashionMnist(picture(100, 80, 255, { x: 20, y: 10, width: 60, height: 60 }, 0));
    const onBlack = toFashionMnist(picture(100, 80, 0, { x: 20, y: 10, width: 60, height: 60 }, 255));
    expect(onWhite.inverted).toBe(true);
    expect(onBlack.inverted).toBe(false);
    expect(onWhite.background).toBe(255);
    // The same garment, the same input.
    expect(Array.from(onWhite.pixels)).toEqual(Array.from(onBlack.pixels));
    // Grey backdrops: the rule is the border's mean against the middle grey.
    expect(toFashionMnist(picture(40, 40, 140, { x: 10, y: 10, width: 20, height: 20 }, 20)).inverted).toBe(true);
    expect(toFashionMnist(picture(40, 40, 110, { x: 10, y: 10, width: 20, height: 20 }, 240)).inverted).toBe(false);
  });

  it('maps the background to 0 and full contrast to 1, and stays in [0, 1]', () => {
    // An off-white backdrop (230) with a black garment: the backdrop becomes the dataset's black, not a dim grey.
    const c = toFashionMnist(picture(90, 90, 230, { x: 30, y: 20, width: 30, height: 50 }, 0));
    expect(Math.min(...c.pixels)).toBe(0);
    expect(Math.max(...c.pixels)).toBe(1);
    // A mid-grey garment on the same backdrop lands in between.
    const grey = toFashionMnist(picture(90, 90, 230, { x: 30, y: 20, width: 30, height: 50 }, 115));
    expect(Math.max(...grey.pixels)).toBeCloseTo((230 - 115) / 230, 5);
    for (const v of grey.pixels) expect(v >= 0 && v <= 1).toBe(true);
    // A picture with nothing on it is a blank input, not an error.
    const blank = toFashionMnist(picture(30, 30, 200, { x: 0, y: 0, width: 0, height: 0 }, 0));
    expect(blank.box).toBeNull();
    expect(Math.max(...blank.pixels)).toBe(0);
  });

  it('trims to the garment, fits its longest side to 28 keeping the aspect ratio, and centres it', () => {
    // A wide garment (120 x 40) off-centre in a large picture.
    const c = toFashionMnist(picture(400, 300, 255, { x: 250, y: 30, width: 120, height: 40 }, 0));
    expect(c.box).toEqual({ x: 250, y: 30, width: 120, height: 40 });
    expect(c.fitted).toEqual({ width: 28, height: 9 });
    const e = extentOf(c.pixels);
    expect(e.right - e.left + 1).toBe(28);
    expect(e.bottom - e.top + 1).toBe(9);
    // Centred: the rows above and below differ by at most one.
    expect(Math.abs(e.top - (27 - e.bottom))).toBeLessThanOrEqual(1);
    // A tall one fills the height instead.
    const tall = toFashionMnist(picture(200, 200, 255, { x: 10, y: 5, width: 50, height: 150 }, 0));
    expect(tall.fitted).toEqual({ width: 9, height: 28 });
    const t = extentOf(tall.pixels);
    expect(t.bottom - t.top + 1).toBe(28);
    expect(Math.abs(t.left - (27 - t.right))).toBeLessThanOrEqual(1);
    // A picture smaller than 28 is scaled up to it.
    expect(fitSize({ width: 10, height: 5 })).toEqual({ width: 28, height: 14 });
  });

  it('trims by the 5% rule: pixels within 5% of the background count as background', () => {
    const g = picture(50, 50, 250, { x: 5, y: 5, width: 40, height: 40 }, 240); // 10 levels off: within 12.75
    g.data[20 * 50 + 30] = 100;
    expect(trimBox(g, borderMean(g))).toEqual({ x: 30, y: 20, width: 1, height: 1 });
  });

  it('resamples by area averaging: exact block means, fractional overlaps, the mean kept', () => {
    const plane = { data: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16], width: 4 };
    expect(Array.from(areaResize(plane, { x: 0, y: 0, width: 4, height: 4 }, 2, 2))).toEqual([3.5, 5.5, 11.5, 13.5]);
    // 3 -> 2: the middle pixel is shared half and half.
    const row = areaResize({ data: [0, 3, 6], width: 3 }, { x: 0, y: 0, width: 3, height: 1 }, 2, 1);
    expect(row[0]).toBeCloseTo((0 + 0.5 * 3) / 1.5, 6);
    expect(row[1]).toBeCloseTo((0.5 * 3 + 6) / 1.5, 6);
    // Any ratio keeps the mean (a point sampler would not).
    const data = Array.from({ length: 97 * 61 }, (_, i) => (i * 7919) % 256);
    const out = areaResize({ data, width: 97 }, { x: 0, y: 0, width: 97, height: 61 }, 28, 18);
    const mean = (xs: ArrayLike<number>) => Array.from(xs).reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(out)).toBeCloseTo(mean(data), 3);
    // A box inside an RGBA buffer (stride 4, channel offset).
    const rgba = { data: [10, 20, 30, 255, 50, 60, 70, 255], width: 2, stride: 4, offset: 1 };
    expect(Array.from(areaResize(rgba, { x: 0, y: 0, width: 2, height: 1 }, 1, 1))).toEqual([40]);
  });

  it('turns the picture as its EXIF orientation says', () => {
    // Stored 3 x 2:  a b c / d e f  (one RGBA pixel each, its red channel the letter's number)
    const img = { width: 3, height: 2, data: new Uint8Array([1, 2, 3, 4, 5, 6].flatMap((v) => [v, 0, 0, 255])) };
    const shown = (o: number) => {
      const r = orient(img, o);
      return { width: r.width, height: r.height, red: Array.from(r.data.filter((_, i) => i % 4 === 0)) };
    };
    expect(shown(1)).toEqual({ width: 3, height: 2, red: [1, 2, 3, 4, 5, 6] });
    expect(shown(2)).toEqual({ width: 3, height: 2, red: [3, 2, 1, 6, 5, 4] });
    expect(shown(3)).toEqual({ width: 3, height: 2, red: [6, 5, 4, 3, 2, 1] });
    expect(shown(4)).toEqual({ width: 3, height: 2, red: [4, 5, 6, 1, 2, 3] });
    expect(shown(5)).toEqual({ width: 2, height: 3, red: [1, 4, 2, 5, 3, 6] });
    // 90 degrees clockwise:  d a / e b / f c
    expect(shown(6)).toEqual({ width: 2, height: 3, red: [4, 1, 5, 2, 6, 3] });
    expect(shown(7)).toEqual({ width: 2, height: 3, red: [6, 3, 5, 2, 4, 1] });
    // 90 degrees counter-clockwise:  c f / b e / a d
    expect(shown(8)).toEqual({ width: 2, height: 3, red: [3, 6, 2, 5, 1, 4] });
  });

  it('greys by BT.601 luma over white, and previews in colour', () => {
    const img = { width: 2, height: 1, data: new Uint8Array([255, 0, 0, 255, 0, 0, 0, 0]) };
    flattenOnWhite(img);
    // The transparent pixel is white, the red one keeps its colour.
    expect(Array.from(img.data)).toEqual([255, 0, 0, 255, 255, 255, 255, 255]);
    expect(Array.from(toGrey(img).data)).toEqual([76, 255]);
    const big = { width: 200, height: 100, data: new Uint8Array(200 * 100 * 4).fill(255) };
    const p = preview(big, 56);
    expect([p.width, p.height]).toEqual([56, 28]);
    expect(p.rgb.every((v) => v === 1)).toBe(true);
  });
});

/** A PNG file's bytes. */
function pngBytes(width: number, height: number): Uint8Array {
  const png = new PNG({ width, height });
  png.data.fill(255);
  return PNG.sync.write(png);
}

describe('the image header check', () => {
  it('reads PNG and JPEG sizes from the header, whatever the JPEG puts before its frame', () => {
    expect(readImageHeader(pngBytes(37, 21))).toEqual({ format: 'png', width: 37, height: 21, orientation: 1 });
    const jpg = jpeg.encode({ width: 45, height: 17, data: Buffer.alloc(45 * 17 * 4, 128) }, 80).data;
    expect(readImageHeader(jpg)).toEqual({ format: 'jpeg', width: 45, height: 17, orientation: 1 });
    // An APP1 segment of 3000 bytes (an EXIF block) between SOI and the frame is walked over.
    const app1 = Buffer.concat([Buffer.from([0xff, 0xe1, 3002 >> 8, 3002 & 0xff]), Buffer.alloc(3000, 0xab)]);
    const withExif = Buffer.concat([jpg.subarray(0, 2), app1, jpg.subarray(2)]);
    expect(readImageHeader(withExif)).toEqual({ format: 'jpeg', width: 45, height: 17, orientation: 1 });
    // A phone's portrait photo: stored landscape, EXIF says "rotate 90 degrees clockwise" (6); big- and little-endian TIFF.
    for (const little of [false, true]) {
      const tiff = Buffer.alloc(26);
      tiff.write(little ? 'II' : 'MM', 0, 'latin1');
      const w16 = (v: number, at: number) => (little ? tiff.writeUInt16LE(v, at) : tiff.writeUInt16BE(v, at));
      const w32 = (v: number, at: number) => (little ? tiff.writeUInt32LE(v, at) : tiff.writeUInt32BE(v, at));
      w16(42, 2);
      w32(8, 4);
      w16(1, 8); // one entry
      w16(0x0112, 10);
      w16(3, 12); // SHORT
      w32(1, 14);
      w16(6, 18);
      const exif = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]);
      const segment = Buffer.concat([Buffer.from([0xff, 0xe1, (exif.length + 2) >> 8, (exif.length + 2) & 0xff]), exif]);
      const photo = Buffer.concat([jpg.subarray(0, 2), segment, jpg.subarray(2)]);
      expect(readImageHeader(photo)).toEqual({ format: 'jpeg', width: 45, height: 17, orientation: 6 });
    }
  });

  it('refuses other bytes, a cut-short header and JPEGs jpeg-js cannot decode, saying what they are', () => {
    const why = (bytes: Uint8Array) => {
      try {
        readImageHeader(bytes);
      } catch (err) {
        expect(err).toBeInstanceOf(NotAnImage);
        return (err as Error).message;
      }
      return 'accepted';
    };
    expect(why(Buffer.from('GIF89a......'))).toMatch(/^neither a PNG nor a JPEG \(its first bytes are 47 49 46 38 39 61/);
    expect(why(new Uint8Array(0))).toMatch(/first bytes are none/);
    expect(why(pngBytes(3, 3).subarray(0, 14))).toMatch(/without the IHDR chunk/);
    expect(why(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10]))).toMatch(/ends before its frame header/);
    const lossless = Buffer.from([0xff, 0xd8, 0xff, 0xc3, 0x00, 0x0b, 0x08, 0x00, 0x10, 0x00, 0x10, 0x01, 0x01, 0x11, 0x00]);
    expect(why(lossless)).toMatch(/lossless or arithmetic-coded JPEG \(SOF3\)/);
  });

  it('puts the limit at 10,000 px a side', () => {
    expect(sizeProblem({ format: 'png', width: MAX_IMAGE_SIDE, height: 1, orientation: 1 })).toBeNull();
    expect(sizeProblem({ format: 'jpeg', width: 300, height: MAX_IMAGE_SIDE + 1, orientation: 1 })).toMatch(/300 x 10001 px, over the limit of 10,000 px a side/);
    expect(sizeProblem({ format: 'png', width: 0, height: 5, orientation: 1 })).toMatch(/without pixels/);
  });
});
