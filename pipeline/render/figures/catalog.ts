/**
 * The list of figures a run gets, from its artifacts' data (already read from disk): which spec
 * builder draws what, under which name. Pure: data in, specs out.
 */
import { IMAGE_SIZE } from '../../catalog/dataset.js';
import type { ModelSummary } from '../../catalog/model-summary.js';
import type { NpyArray } from '../../catalog/npy.js';
import { chapterSample, type FeatureIndex, type FeatureSample, type FigureKind, type History, type LayerMap, type Metrics, type WeightStats } from '../../catalog/schema.js';
import { shapeText } from './common.js';
import { confusionSpec, perClassAccuracySpec } from './evaluation.js';
import { weightHistogramSpec } from './histograms.js';
import { convLayers, inputChannelSlice, KERNEL_DOMAIN, kernelGridSpec, meanOverInputs, symmetricLimit } from './kernels.js';
import { learningCurvesSpec } from './learning-curves.js';
import { imageGridSpec, inputPanel, mapPanel, mapZoom } from './maps.js';
import type { FigureSpecOf } from './write-figure.js';
import { modelDiagramSpec } from './model-diagram.js';

export interface FigureInputs {
  /** null for a model imported with --model: it was not trained here */
  history: History | null;
  metrics: Metrics;
  model: ModelSummary;
  stats: WeightStats;
  /** kernels of the conv layers, by model and layer name */
  kernels: Record<'trained' | 'untrained', Record<string, NpyArray>>;
  features: FeatureIndex;
  /** tensors of feature-maps/, by their path relative to it (index.json's `file` and `image`) */
  tensors: Map<string, NpyArray>;
  classNames: readonly string[];
}

export type FigureSpec = FigureSpecOf<FigureKind>;

/** Sample ids become file names: keep them to a safe character set. */
export function slug(id: string): string {
  return id.replace(/[^A-Za-z0-9_-]/g, '_');
}

/** Grid columns for n maps or kernels: the chapter's 2 x 16 for 32 kernels, 4 x 8 for 32 maps, 8 x 8 for 64. */
function columns(n: number, kernels: boolean): number {
  if (kernels && n === 32) return 16;
  return n === 32 ? 8 : Math.ceil(Math.sqrt(n));
}

function tensor(inputs: FigureInputs, file: string): NpyArray {
  const t = inputs.tensors.get(file);
  if (!t) throw new Error(`figures: tensor ${file} was not loaded`);
  return t;
}

function kernelFigures(inputs: FigureInputs): FigureSpec[] {
  const out: FigureSpec[] = [];
  for (const layer of convLayers(inputs.stats)) {
    const trained = inputs.kernels.trained[layer];
    const untrained = inputs.kernels.untrained[layer];
    const [kh, kw, cin, cout] = trained.shape;
    if (cin === 1) {
      // The chapter's figure: each kernel's only input channel, on the fixed range [-0.5, 0.5].
      const panels = [inputChannelSlice(trained, 0, 'trained'), inputChannelSlice(untrained, 0, 'untrained')];
      out.push({
        name: `kernels-${layer}`,
        kind: 'kernels',
        layer,
        title: `${layer}: ${cout} kernels of ${kh} × ${kw}, colour range ${KERNEL_DOMAIN[0]} to ${KERNEL_DOMAIN[1]}`,
        spec: kernelGridSpec(panels, { title: `${layer} kernels (${kh} × ${kw} × ${cin} × ${cout})`, cols: columns(cout, true), domain: KERNEL_DOMAIN }),
      });
    } else {
      // Too many cells to draw whole: per output filter, the mean over its input channels, on a
      // range symmetric around 0 that both panels share.
      const panels = [meanOverInputs(trained, 'trained'), meanOverInputs(untrained, 'untrained')];
      const m = symmetricLimit(panels);
      out.push({
        name: `kernels-${layer}`,
        kind: 'kernels',
        layer,
        title: `${layer}: per output filter, the mean of its ${cin} input channels' ${kh} × ${kw} kernels`,
        spec: kernelGridSpec(panels, {
          title: `${layer} kernels, mean over the ${cin} input channels (${cout} filters)`,
          cols: columns(cout, true),
          domain: [-m, m],
          direction: 'row',
        }),
      });
    }
  }
  return out;
}

function histogramFigure(inputs: FigureInputs): FigureSpec {
  const panels = convLayers(inputs.stats).map((layer) => ({
    layer,
    trained: inputs.stats.trained[layer].kernel.histogram,
    untrained: inputs.stats.untrained[layer].kernel.histogram,
    glorotLimit: inputs.stats.glorot[layer]?.limit,
  }));
  return { name: 'weight-histograms', kind: 'weight-histograms', title: 'Kernel weight histograms, trained vs untrained', spec: weightHistogramSpec(panels) };
}

function layerPanel(inputs: FigureInputs, map: LayerMap, label: string, zoom?: number) {
  const [, h, , c] = map.shape;
  return mapPanel(tensor(inputs, map.file), label, columns(c, false), zoom ?? mapZoom(h));
}

function describe(s: FeatureSample, classNames: readonly string[]): string {
  const p = s.probabilities[s.prediction];
  const verdict = s.prediction === s.label ? 'right' : 'wrong';
  return `${s.split} image #${s.index}, ${classNames[s.label]}: predicted ${classNames[s.prediction]} (${(p * 100).toFixed(1)}%, ${verdict})`;
}

function chapterSampleFigures(inputs: FigureInputs): FigureSpec[] {
  const { features, classNames } = inputs;
  const sample = chapterSample(features);
  const id = slug(sample.id);
  const out: FigureSpec[] = [
    {
      name: `input-${id}`,
      kind: 'input',
      sample: sample.id,
      title: `The input: ${describe(sample, classNames)}`,
      spec: imageGridSpec(`Input: ${sample.split} image #${sample.index} (${classNames[sample.label]})`, [inputPanel(tensor(inputs, sample.image), 'reversed grey, as imshow(cmap="gray_r")', 8)]),
    },
  ];
  for (const map of sample.layers) {
    const [, h, w, c] = map.shape;
    const twin = features.untrained.sample === sample.id && map.layer === sample.layers[0].layer ? features.untrained.layers.find((l) => l.layer === map.layer) : undefined;
    const panels = [layerPanel(inputs, map, twin ? 'trained' : '')];
    if (twin) panels.push(layerPanel(inputs, twin, 'untrained'));
    out.push({
      name: `maps-${id}-${map.layer}`,
      kind: 'feature-maps',
      sample: sample.id,
      layer: map.layer,
      title: `${map.layer} feature maps (${shapeText(map.shape.slice(1))})${twin ? ', trained beside untrained' : ''}`,
      spec: imageGridSpec(`${map.layer}: ${c} feature maps of ${h} × ${w}, each on its own colour range`, panels),
    });
  }
  return out;
}

/** One compact figure per class: the test image, and its maps of the conv layers (pooling left out). */
function classFigures(inputs: FigureInputs): FigureSpec[] {
  const { features, classNames } = inputs;
  return features.samples
    .filter((s) => s.split === 'test')
    .map((s) => {
      const convs = s.layers.filter((l) => inputs.stats.trained[l.layer]?.kernel.shape.length === 4);
      const panels = [
        inputPanel(tensor(inputs, s.image), 'input', 2),
        ...convs.map((l) => layerPanel(inputs, l, l.layer, Math.max(1, Math.round(IMAGE_SIZE / l.shape[1])))),
      ];
      // A short title: a long one would widen some figures of the set more than others.
      const short = `${classNames[s.label]} (test #${s.index}) → ${classNames[s.prediction]} ${(s.probabilities[s.prediction] * 100).toFixed(1)}%`;
      return { name: `class-${slug(s.id)}`, kind: 'class-sample' as const, sample: s.id, title: describe(s, classNames), spec: imageGridSpec(short, panels) };
    });
}

export function buildFigures(inputs: FigureInputs): FigureSpec[] {
  return [
    { name: 'model', kind: 'model', title: 'The model: layers and output shapes', spec: modelDiagramSpec(inputs.model) },
    histogramFigure(inputs),
    ...kernelFigures(inputs),
    ...chapterSampleFigures(inputs),
    ...classFigures(inputs),
    ...(inputs.history ? [{ name: 'learning-curves', kind: 'learning-curves' as const, title: 'Learning curves', spec: learningCurvesSpec(inputs.history) }] : []),
    { name: 'confusion', kind: 'confusion', title: 'Test confusion matrix', spec: confusionSpec(inputs.metrics.confusion, inputs.classNames) },
    {
      name: 'per-class-accuracy',
      kind: 'per-class-accuracy',
      title: 'Test accuracy per class',
      spec: perClassAccuracySpec(inputs.metrics.per_class_accuracy, inputs.classNames),
    },
  ];
}
