/**
 * Feature maps and input images as grids of small embedded PNGs (a vega `image` mark per map).
 * Each map is coloured over its own min..max, as matplotlib's imshow does by default, so a map's
 * pattern shows whatever its scale; the input is drawn in reversed grey, as the chapter does.
 */
import type { TopLevelSpec } from 'vega-lite';
import { channelOf, type Colormap, extent, heatmapPng, pngDataUrl } from '../heatmap.js';
import type { NpyArray } from '../../catalog/npy.js';
import { CONFIG, roundSignificant, SCHEMA } from './common.js';

export interface ImagePanel {
  label: string;
  /** each h x w, row-major */
  images: Float32Array[];
  h: number;
  w: number;
  /** images per grid row */
  cols: number;
  /** screen pixels per image pixel */
  zoom: number;
  colormap: Colormap;
}

export interface ImageTile {
  index: number;
  x: number;
  y: number;
  /** the colour range of this tile: its own extent */
  min: number;
  max: number;
  url: string;
}

const GAP = 2;

/** Screen pixels per map pixel: a 28 x 28 map draws at 56 px, 14 x 14 and 7 x 7 too. */
export function mapZoom(h: number): number {
  return Math.max(1, Math.round(56 / h));
}

/** The maps of a feature-map tensor [1, H, W, C], one per channel. */
export function mapPanel(tensor: NpyArray, label: string, cols: number, zoom: number): ImagePanel {
  if (tensor.shape.length !== 4 || tensor.shape[0] !== 1) {
    throw new Error(`${label}: expected a feature-map tensor [1, H, W, C], got shape [${tensor.shape.join(', ')}]`);
  }
  const [, h, w, c] = tensor.shape;
  const images = Array.from({ length: c }, (_, i) => channelOf(tensor.data, tensor.shape, i));
  return { label, images, h, w, cols, zoom, colormap: 'viridis' };
}

/** An input image [28, 28] as one reversed-grey tile. */
export function inputPanel(image: NpyArray, label: string, zoom: number): ImagePanel {
  if (image.shape.length !== 2) throw new Error(`${label}: expected an image [H, W], got shape [${image.shape.join(', ')}]`);
  const [h, w] = image.shape;
  return { label, images: [image.data], h, w, cols: 1, zoom, colormap: 'gray_r' };
}

export function imageTiles(p: ImagePanel): ImageTile[] {
  return p.images.map((img, index) => {
    const [min, max] = extent(img);
    return {
      index,
      x: (index % p.cols) * (p.w * p.zoom + GAP),
      y: Math.floor(index / p.cols) * (p.h * p.zoom + GAP),
      min: roundSignificant(min),
      max: roundSignificant(max),
      url: pngDataUrl(heatmapPng(img, p.w, p.h, { colormap: p.colormap, min, max })),
    };
  });
}

function panelSpec(p: ImagePanel) {
  const rows = Math.ceil(p.images.length / p.cols);
  return {
    title: { text: p.label, fontSize: 12, fontWeight: 'normal' as const },
    width: p.cols * (p.w * p.zoom + GAP) - GAP,
    height: rows * (p.h * p.zoom + GAP) - GAP,
    data: { values: imageTiles(p) },
    mark: {
      type: 'image' as const,
      width: p.w * p.zoom,
      height: p.h * p.zoom,
      aspect: false,
      align: 'left' as const,
      baseline: 'top' as const,
      // Pixels stay square (imshow's look for small arrays); aria off: a label would repeat the whole data URL.
      smooth: false,
      aria: false,
    },
    encoding: {
      x: { field: 'x', type: 'quantitative' as const, scale: null },
      y: { field: 'y', type: 'quantitative' as const, scale: null },
      url: { field: 'url', type: 'nominal' as const },
    },
  };
}

/** Panels side by side (hconcat) or stacked (vconcat). */
export function imageGridSpec(title: string, panels: ImagePanel[], direction: 'row' | 'column' = 'row'): TopLevelSpec {
  const specs = panels.map(panelSpec);
  const base = { $schema: SCHEMA, title, config: CONFIG };
  if (specs.length === 1) return { ...base, ...specs[0], title: panels[0].label ? { text: title, subtitle: panels[0].label } : title };
  return direction === 'row' ? { ...base, hconcat: specs } : { ...base, vconcat: specs };
}
