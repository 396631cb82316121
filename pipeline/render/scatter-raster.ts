/**
 * A scatter plot of many points as one PNG: thousands of points as SVG marks would weigh about
 * 100 bytes each in the page (10,000 points: 1 MB), as pixels they cost what the image compresses
 * to. Points are anti-aliased discs blended over a white ground in the order given; rings mark
 * chosen points on top of all of them.
 */
import { PNG } from 'pngjs';

export interface ScatterRaster {
  /** x, y per point (row-major, n x 2), in data units */
  coords: Float32Array;
  /** index into `colors` per point */
  groups: ArrayLike<number>;
  /** [r, g, b] per group */
  colors: readonly (readonly [number, number, number])[];
  /** the points drawn with a ring on top */
  marked: ArrayLike<boolean | number>;
  /** data range shown: [xmin, xmax] and [ymin, ymax]; y grows upwards as in a chart */
  xDomain: readonly [number, number];
  yDomain: readonly [number, number];
  /** image size in pixels */
  width: number;
  height: number;
  /** disc radius and ring radius in pixels */
  radius: number;
  ringRadius: number;
  /** opacity of a disc and of a ring */
  opacity: number;
  ringOpacity: number;
}

const RING: readonly [number, number, number] = [34, 34, 34];

/** The pixel position of a point: the chart's linear scales, y flipped (row 0 is the top). */
function toPixel(s: ScatterRaster, i: number): [number, number] {
  const [x0, x1] = s.xDomain;
  const [y0, y1] = s.yDomain;
  return [((s.coords[i * 2] - x0) / (x1 - x0)) * s.width, ((y1 - s.coords[i * 2 + 1]) / (y1 - y0)) * s.height];
}

/**
 * Blends a shape's colour into `rgb` with per-pixel coverage: `cover(d)` gives the share of the
 * pixel at distance d from the centre that the shape covers.
 */
function stamp(rgb: Float32Array, w: number, h: number, cx: number, cy: number, reach: number, color: readonly number[], alpha: number, cover: (d: number) => number): void {
  for (let y = Math.max(0, Math.floor(cy - reach)); y <= Math.min(h - 1, Math.ceil(cy + reach)); y++) {
    for (let x = Math.max(0, Math.floor(cx - reach)); x <= Math.min(w - 1, Math.ceil(cx + reach)); x++) {
      const a = alpha * cover(Math.hypot(x + 0.5 - cx, y + 0.5 - cy));
      if (!(a > 0)) continue;
      const p = (y * w + x) * 3;
      for (let c = 0; c < 3; c++) rgb[p + c] += (color[c] - rgb[p + c]) * a;
    }
  }
}

const clamp01 = (v: number) => Math.min(1, Math.max(0, v));

/** The scatter as PNG bytes (RGB). */
export function scatterPng(s: ScatterRaster): Uint8Array {
  const { width: w, height: h } = s;
  const n = s.coords.length / 2;
  const rgb = new Float32Array(w * h * 3).fill(255);
  const disc = (d: number) => clamp01(s.radius + 0.5 - d);
  const ring = (d: number) => clamp01(0.75 - Math.abs(d - s.ringRadius));
  for (let i = 0; i < n; i++) {
    const [x, y] = toPixel(s, i);
    stamp(rgb, w, h, x, y, s.radius + 1, s.colors[s.groups[i]], s.opacity, disc);
  }
  for (let i = 0; i < n; i++) {
    if (!s.marked[i]) continue;
    const [x, y] = toPixel(s, i);
    stamp(rgb, w, h, x, y, s.ringRadius + 1, RING, s.ringOpacity, ring);
  }
  const png = new PNG({ width: w, height: h, colorType: 2, inputColorType: 2, inputHasAlpha: false });
  png.data = Buffer.from(Uint8Array.from(rgb, (v) => Math.round(v)));
  return PNG.sync.write(png, { colorType: 2, inputColorType: 2, inputHasAlpha: false });
}
