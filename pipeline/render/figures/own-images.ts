/**
 * The reader's own pictures (own-images/): per picture, one strip of small images (the original,
 * the converted 28 x 28 input, Grad-CAM over it, input saliency), the ten class probabilities as
 * bars, and the maps of every conv and pooling layer. Words come from the message catalog
 * (`beyond.own-images.figures.*`), class names in the report's language.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { TensorFolder } from '../../catalog/artifacts.js';
import { IMAGE_SIZE } from '../../catalog/dataset.js';
import type { NpyArray } from '../../catalog/npy.js';
import type { LayerMap, OwnImage, OwnImagesIndex, OwnImagesIndexSchema } from '../../catalog/schema.js';
import { channelOf, colorIndex, colormapRgb, extent, heatmapPng, pngDataUrl, rgbPng } from '../heatmap.js';
import { message, type Catalog } from '../messages.js';
import { CONFIG, roundSignificant, SCHEMA } from './common.js';
import type { FigureSpecOf } from './write-figure.js';

export type OwnImageFigureKind = 'own-image' | 'own-image-prediction' | 'own-image-maps';

export interface OwnImagesFigureInputs {
  index: OwnImagesIndex;
  /** tensors of own-images/, by their path relative to it */
  tensors: Map<string, NpyArray>;
  classNames: readonly string[];
  messages: Catalog;
}

/** own-images/index.json and every tensor it lists. */
export async function loadOwnImages(folder: TensorFolder<typeof OwnImagesIndexSchema>, classNames: readonly string[], messages: Catalog): Promise<OwnImagesFigureInputs> {
  const index = await folder.index.read();
  const tensors = new Map<string, NpyArray>();
  const load = async (file: string, shape?: number[]) => void tensors.set(file, await folder.read(file, shape));
  for (const img of index.images) {
    await load(img.input, [IMAGE_SIZE, IMAGE_SIZE]);
    await load(img.original, img.original_shape);
    for (const l of img.layers) await load(l.file, l.shape);
    if (img.attention) {
      await load(img.attention.cam, [IMAGE_SIZE, IMAGE_SIZE]);
      await load(img.attention.saliency, [IMAGE_SIZE, IMAGE_SIZE]);
    }
  }
  return { index, tensors, classNames, messages };
}

/** How strongly Grad-CAM's red covers the input where the map is 1. */
const CAM_OPACITY = 0.75;
const CAM_RGB = [220, 30, 20] as const;

/**
 * The input in the chapter's reversed grey, lightened so that red shows on the garment too, with
 * Grad-CAM laid over it in red, as opaque as the map is high: the red is where the evidence for
 * the predicted class lies.
 */
export function camOverlay(input: Float32Array, cam: Float32Array): Float32Array {
  const rgb = new Float32Array(input.length * 3);
  for (let p = 0; p < input.length; p++) {
    const grey = 0.4 + 0.6 * (1 - colorIndex(input[p], 0, 1) / 255);
    const a = CAM_OPACITY * Math.min(1, Math.max(0, cam[p]));
    for (let c = 0; c < 3; c++) rgb[p * 3 + c] = (1 - a) * grey + (a * CAM_RGB[c]) / 255;
  }
  return rgb;
}

/** One picture tile of a strip. */
interface Tile {
  label: string;
  url: string;
  width: number;
  height: number;
  zoom: number;
}

function tileSpec(t: Tile) {
  return {
    title: { text: t.label, fontSize: 12, fontWeight: 'normal' as const },
    width: t.width * t.zoom,
    height: t.height * t.zoom,
    data: { values: [{ x: 0, y: 0, url: t.url }] },
    mark: { type: 'image' as const, width: t.width * t.zoom, height: t.height * t.zoom, aspect: false, align: 'left' as const, baseline: 'top' as const, smooth: false, aria: false },
    encoding: {
      x: { field: 'x', type: 'quantitative' as const, scale: null },
      y: { field: 'y', type: 'quantitative' as const, scale: null },
      url: { field: 'url', type: 'nominal' as const },
    },
  };
}

/** Screen pixels per input pixel in the strip: 28 x 28 drawn at 112 px. */
const INPUT_ZOOM = 4;

function tensor(inputs: OwnImagesFigureInputs, file: string): NpyArray {
  const t = inputs.tensors.get(file);
  if (!t) throw new Error(`figures: tensor ${file} was not loaded`);
  return t;
}

const t = (inputs: OwnImagesFigureInputs, key: string, vars: Record<string, unknown> = {}) => message(inputs.messages, `beyond.own-images.figures.${key}`, vars);

function stripFigure(inputs: OwnImagesFigureInputs, img: OwnImage): FigureSpecOf<OwnImageFigureKind> {
  const [oh, ow] = img.original_shape;
  const input = tensor(inputs, img.input).data;
  // The original at the input's drawn height, never enlarged past 4x.
  const originalZoom = Math.max(1, Math.min(4, Math.floor((IMAGE_SIZE * INPUT_ZOOM) / Math.max(oh, ow))));
  const tiles: Tile[] = [
    { label: t(inputs, 'original'), url: pngDataUrl(rgbPng(tensor(inputs, img.original).data, ow, oh)), width: ow, height: oh, zoom: originalZoom },
    { label: t(inputs, 'input'), url: pngDataUrl(heatmapPng(input, IMAGE_SIZE, IMAGE_SIZE, { colormap: 'gray_r', min: 0, max: 1 })), width: IMAGE_SIZE, height: IMAGE_SIZE, zoom: INPUT_ZOOM },
  ];
  if (img.attention) {
    const cam = tensor(inputs, img.attention.cam).data;
    const saliency = tensor(inputs, img.attention.saliency).data;
    const [lo, hi] = extent(saliency);
    tiles.push(
      { label: t(inputs, 'grad_cam', { layer: img.attention.layer }), url: pngDataUrl(rgbPng(camOverlay(input, cam), IMAGE_SIZE, IMAGE_SIZE)), width: IMAGE_SIZE, height: IMAGE_SIZE, zoom: INPUT_ZOOM },
      { label: t(inputs, 'saliency'), url: pngDataUrl(heatmapPng(saliency, IMAGE_SIZE, IMAGE_SIZE, { colormap: 'viridis', min: lo, max: hi })), width: IMAGE_SIZE, height: IMAGE_SIZE, zoom: INPUT_ZOOM },
    );
  }
  const title = t(inputs, 'strip_title', { name: img.source.name, predicted: inputs.classNames[img.prediction], probability: `${(img.probabilities[img.prediction] * 100).toFixed(1)}%` });
  const spec: TopLevelSpec = { $schema: SCHEMA, title, config: { ...CONFIG, concat: { spacing: 16 } }, hconcat: tiles.map(tileSpec) };
  return { name: `own-${img.id}`, kind: 'own-image', sample: img.id, title, spec };
}

function predictionFigure(inputs: OwnImagesFigureInputs, img: OwnImage): FigureSpecOf<OwnImageFigureKind> {
  const { classNames } = inputs;
  const predicted = classNames[img.prediction];
  const values = img.probabilities.map((p, i) => ({ class_name: classNames[i], probability: roundSignificant(p, 4), predicted: i === img.prediction }));
  const title = t(inputs, 'prediction_title', { name: img.source.name });
  const spec: TopLevelSpec = {
    $schema: SCHEMA,
    title,
    config: CONFIG,
    width: 280,
    height: { step: 16 },
    data: { values },
    encoding: {
      y: { field: 'class_name', type: 'ordinal', sort: [...classNames], title: null, axis: { labelLimit: 140 } },
      x: { field: 'probability', type: 'quantitative', title: t(inputs, 'probability_axis'), scale: { domain: [0, 1] }, axis: { format: '.0%' } },
    },
    layer: [
      {
        mark: { type: 'bar' },
        encoding: { color: { condition: { test: 'datum.predicted', value: '#e15759' }, value: '#4e79a7' } },
      },
      {
        mark: { type: 'text', align: 'left', dx: 3, fontSize: 10 },
        encoding: { text: { field: 'probability', type: 'quantitative', format: '.1%' } },
      },
    ],
  };
  return { name: `own-${img.id}-prediction`, kind: 'own-image-prediction', sample: img.id, title: `${title}: ${predicted}`, spec };
}

/** Maps per row of a layer's sheet. */
const MAP_COLUMNS = 8;

/**
 * A layer's maps as one sheet: one PNG with the maps in rows of 8, one white pixel apart, each
 * map on its own colour range (imshow's default, as the feature-map section draws them). One PNG
 * per layer instead of one per map: 192 maps per picture as separate images cost about 100 kB of
 * report, as sheets about 40 kB.
 */
export function mapSheet(map: NpyArray): { rgb: Float32Array; width: number; height: number } {
  const [, h, w, c] = map.shape;
  const cols = Math.min(MAP_COLUMNS, c);
  const rows = Math.ceil(c / cols);
  const width = cols * (w + 1) - 1;
  const height = rows * (h + 1) - 1;
  const rgb = new Float32Array(width * height * 3).fill(1);
  for (let i = 0; i < c; i++) {
    const values = channelOf(map.data, map.shape, i);
    const [lo, hi] = extent(values);
    const left = (i % cols) * (w + 1);
    const top = Math.floor(i / cols) * (h + 1);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const colour = colormapRgb('viridis', colorIndex(values[y * w + x], lo, hi));
        for (let k = 0; k < 3; k++) rgb[((top + y) * width + left + x) * 3 + k] = colour[k] / 255;
      }
    }
  }
  return { rgb, width, height };
}

function mapsFigure(inputs: OwnImagesFigureInputs, img: OwnImage): FigureSpecOf<OwnImageFigureKind> {
  const title = t(inputs, 'maps_title', { name: img.source.name });
  const tiles = img.layers.map((l: LayerMap): Tile => {
    const [, h, w, c] = l.shape;
    const sheet = mapSheet(tensor(inputs, l.file));
    // Maps about 28 px across whatever the layer's size.
    const zoom = Math.max(1, Math.round(IMAGE_SIZE / h));
    return { label: t(inputs, 'maps_panel', { layer: l.layer, count: c, size: `${h} × ${w}` }), url: pngDataUrl(rgbPng(sheet.rgb, sheet.width, sheet.height)), width: sheet.width, height: sheet.height, zoom };
  });
  const spec: TopLevelSpec = { $schema: SCHEMA, title, config: { ...CONFIG, concat: { spacing: 16 } }, hconcat: tiles.map(tileSpec) };
  return { name: `own-${img.id}-maps`, kind: 'own-image-maps', sample: img.id, title, spec };
}

/** Per picture: the strip, the probabilities, and the maps (when the model has conv or pooling layers). */
export function ownImageFigures(inputs: OwnImagesFigureInputs): FigureSpecOf<OwnImageFigureKind>[] {
  return inputs.index.images.flatMap((img) => [stripFigure(inputs, img), predictionFigure(inputs, img), ...(img.layers.length > 0 ? [mapsFigure(inputs, img)] : [])]);
}
