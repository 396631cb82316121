/**
 * Small images of 2-D arrays (feature maps, input samples) as PNG `data:` URLs, coloured as
 * matplotlib's imshow colours them. A figure draws thousands of pixels per map; as SVG rects that
 * would be megabytes, as one tiny PNG per map it is a few hundred bytes.
 */
import { PNG } from 'pngjs';
import * as vega from 'vega';

export type Colormap = 'viridis' | 'gray_r';

/** matplotlib's colormaps have 256 entries. */
const N = 256;

function viridisLut(): Uint8Array {
  // vega's viridis is the same colour ramp the Vega-Lite legends use, so maps and legends agree.
  const interpolate = vega.scheme('viridis') as (t: number) => string;
  const lut = new Uint8Array(N * 3);
  for (let i = 0; i < N; i++) {
    const rgb = parseColor(interpolate(i / (N - 1)));
    lut.set(rgb, i * 3);
  }
  return lut;
}

function parseColor(text: string): [number, number, number] {
  const hex = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(text);
  if (hex) return [parseInt(hex[1], 16), parseInt(hex[2], 16), parseInt(hex[3], 16)];
  const rgb = /^rgb\((\d+),\s*(\d+),\s*(\d+)\)$/.exec(text);
  if (rgb) return [Number(rgb[1]), Number(rgb[2]), Number(rgb[3])];
  throw new Error(`heatmap: cannot read colour ${JSON.stringify(text)}`);
}

let viridis: Uint8Array | undefined;

/**
 * The colormap index of `v` scaled to [min, max], as matplotlib's Normalize + Colormap do: values
 * outside the range clip to its ends, and a flat range (min == max) maps everything to the first colour.
 */
export function colorIndex(v: number, min: number, max: number): number {
  const t = max > min ? (v - min) / (max - min) : 0;
  if (!(t > 0)) return 0;
  return Math.min(N - 1, Math.floor(t * N));
}

/** The RGB colour of colormap index `i` (0..255). */
export function colormapRgb(colormap: Colormap, i: number): [number, number, number] {
  if (colormap === 'gray_r') return [N - 1 - i, N - 1 - i, N - 1 - i];
  viridis ??= viridisLut();
  return [viridis[i * 3], viridis[i * 3 + 1], viridis[i * 3 + 2]];
}

export interface HeatmapOptions {
  colormap: Colormap;
  /** colour range; imshow's default is the array's own min and max */
  min: number;
  max: number;
}

/** PNG bytes of a `height` x `width` row-major array, one pixel per value. */
export function heatmapPng(values: ArrayLike<number>, width: number, height: number, opts: HeatmapOptions): Uint8Array {
  if (values.length !== width * height) throw new Error(`heatmapPng: ${values.length} values do not make a ${height} x ${width} image`);
  const gray = opts.colormap === 'gray_r';
  const png = new PNG({ width, height, colorType: gray ? 0 : 2, inputColorType: gray ? 0 : 2, inputHasAlpha: false });
  const channels = gray ? 1 : 3;
  const data = Buffer.alloc(width * height * channels);
  for (let p = 0; p < values.length; p++) {
    const rgb = colormapRgb(opts.colormap, colorIndex(values[p], opts.min, opts.max));
    if (gray) data[p] = rgb[0];
    else data.set(rgb, p * 3);
  }
  png.data = data;
  return PNG.sync.write(png, { colorType: gray ? 0 : 2, inputColorType: gray ? 0 : 2, inputHasAlpha: false });
}

/** PNG bytes of `height` x `width` RGB values in [0, 1] (3 per pixel, row-major). */
export function rgbPng(rgb: ArrayLike<number>, width: number, height: number): Uint8Array {
  const png = new PNG({ width, height, colorType: 2, inputColorType: 2, inputHasAlpha: false });
  png.data = Buffer.from(Array.from(rgb, (v) => Math.round(Math.min(1, Math.max(0, v)) * 255)));
  return PNG.sync.write(png, { colorType: 2, inputColorType: 2, inputHasAlpha: false });
}

export function pngDataUrl(png: Uint8Array): string {
  return `data:image/png;base64,${Buffer.from(png.buffer, png.byteOffset, png.byteLength).toString('base64')}`;
}

/** The min and max of an array (imshow's default colour range). */
export function extent(values: ArrayLike<number>): [number, number] {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) {
    if (values[i] < min) min = values[i];
    if (values[i] > max) max = values[i];
  }
  return [min, max];
}

/** Channel `c` of an [.., H, W, C] tensor (batch 1) as an H x W row-major array. */
export function channelOf(data: Float32Array, shape: number[], c: number): Float32Array {
  const [h, w, channels] = shape.slice(-3);
  const out = new Float32Array(h * w);
  for (let p = 0; p < h * w; p++) out[p] = data[p * channels + c];
  return out;
}
