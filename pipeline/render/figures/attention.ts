/**
 * Where the network looks (attention/): per sample, the input with Grad-CAM laid over it and the
 * input-gradient saliency beside it, titled with the predicted class and its probability. Each
 * picture is one 28 x 28 PNG drawn enlarged, so a figure weighs a few kilobytes. Words come from
 * the message catalog (`beyond.attention.figures.*`), class names in the report's language.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { TensorFolder } from '../../catalog/artifacts.js';
import { IMAGE_SIZE } from '../../catalog/dataset.js';
import type { NpyArray } from '../../catalog/npy.js';
import type { AttentionIndex, AttentionIndexSchema, AttentionSample } from '../../catalog/schema.js';
import { heatmapPng, pngDataUrl, rgbPng } from '../heatmap.js';
import { message, type Catalog } from '../messages.js';
import { CONFIG, SCHEMA } from './common.js';
import { camOverlay } from './own-images.js';
import type { FigureSpecOf } from './write-figure.js';

export interface AttentionFigureInputs {
  index: AttentionIndex;
  /** tensors of attention/, by their path relative to it */
  tensors: Map<string, NpyArray>;
  classNames: readonly string[];
  messages: Catalog;
}

/** attention/index.json and every tensor it lists. */
export async function loadAttention(folder: TensorFolder<typeof AttentionIndexSchema>, classNames: readonly string[], messages: Catalog): Promise<AttentionFigureInputs> {
  const index = await folder.index.read();
  const tensors = new Map<string, NpyArray>();
  for (const s of index.samples) {
    for (const file of [s.image, s.cam, s.saliency]) tensors.set(file, await folder.read(file, [IMAGE_SIZE, IMAGE_SIZE]));
  }
  return { index, tensors, classNames, messages };
}

/** Screen pixels per image pixel: the chapter's sample large-ish (168 px), the class samples small (84 px). */
const CHAPTER_ZOOM = 6;
const CLASS_ZOOM = 3;

function tile(label: string, url: string, zoom: number) {
  const size = IMAGE_SIZE * zoom;
  return {
    title: { text: label, fontSize: 12, fontWeight: 'normal' as const },
    width: size,
    height: size,
    data: { values: [{ x: 0, y: 0, url }] },
    // Pixels stay square; aria off: a label would repeat the whole data URL.
    mark: { type: 'image' as const, width: size, height: size, aspect: false, align: 'left' as const, baseline: 'top' as const, smooth: false, aria: false },
    encoding: {
      x: { field: 'x', type: 'quantitative' as const, scale: null },
      y: { field: 'y', type: 'quantitative' as const, scale: null },
      url: { field: 'url', type: 'nominal' as const },
    },
  };
}

function tensor(inputs: AttentionFigureInputs, file: string): Float32Array {
  const t = inputs.tensors.get(file);
  if (!t) throw new Error(`figures: tensor ${file} was not loaded`);
  return t.data;
}

const t = (inputs: AttentionFigureInputs, key: string, vars: Record<string, unknown> = {}) => message(inputs.messages, `beyond.attention.figures.${key}`, vars);

/** A probability to one decimal, without rounding a model's 0.9999 up to a certainty it did not give. */
function percent(p: number): string {
  const text = (p * 100).toFixed(1);
  return text === '100.0' && p < 1 ? '>99.9%' : `${text}%`;
}

/** The chapter's sample drawn large, with the layer named; a class sample small, with short labels that fit its tiles. */
function sampleFigure(inputs: AttentionFigureInputs, s: AttentionSample, large: boolean): FigureSpecOf<'attention'> {
  const zoom = large ? CHAPTER_ZOOM : CLASS_ZOOM;
  const layer = inputs.index.layer ?? '';
  const vars = {
    label: inputs.classNames[s.label],
    predicted: inputs.classNames[s.prediction],
    probability: percent(s.probability),
    // keys: beyond.attention.figures.train, beyond.attention.figures.test
    split: t(inputs, s.split),
    index: s.index,
    layer,
  };
  const title = t(inputs, 'title', vars);
  const spec: TopLevelSpec = {
    $schema: SCHEMA,
    title: { text: title, subtitle: t(inputs, 'subtitle', vars) },
    config: { ...CONFIG, concat: { spacing: 12 } },
    hconcat: [
      tile(large ? t(inputs, 'grad_cam', vars) : t(inputs, 'grad_cam_short'), pngDataUrl(rgbPng(camOverlay(tensor(inputs, s.image), tensor(inputs, s.cam)), IMAGE_SIZE, IMAGE_SIZE)), zoom),
      tile(t(inputs, 'saliency'), pngDataUrl(heatmapPng(tensor(inputs, s.saliency), IMAGE_SIZE, IMAGE_SIZE, { colormap: 'viridis', min: 0, max: 1 })), zoom),
    ],
  };
  return { name: `attention-${s.id}`, kind: 'attention', sample: s.id, title: t(inputs, 'entry', vars), spec };
}

/** The chapter's sample (first) large, then one small figure per class sample; none for a model without a conv layer. */
export function attentionFigures(inputs: AttentionFigureInputs): FigureSpecOf<'attention'>[] {
  return inputs.index.samples.map((s, i) => sampleFigure(inputs, s, i === 0));
}
