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
import type { Locale } from '../locale.js';
import { ownImageFigures, type OwnImagesFigureInputs } from './own-images.js';
import { filterPatternFigures, type FilterPatternFigureInputs } from './filter-patterns.js';
import { attentionFigures, type AttentionFigureInputs } from './attention.js';
import { mistakesFigures, type MistakesFigureInputs } from './mistakes.js';

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
  /** the run's language: the figures' titles, axis titles and legends */
  locale: Locale;
  /** filter-patterns/: the inputs that excite each conv filter most (none for a model without a conv layer) */
  patterns: FilterPatternFigureInputs;
  /** attention/: Grad-CAM and saliency of the samples (none for a model without a conv layer) */
  attention: AttentionFigureInputs;
  /** mistakes/: the most confident mistakes and the map of the hidden Dense layer */
  mistakes: MistakesFigureInputs;
  /** own-images/: the reader's pictures (none without --image) */
  ownImages: OwnImagesFigureInputs;
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
  const loc = inputs.locale;
  const out: FigureSpec[] = [];
  for (const layer of convLayers(inputs.stats)) {
    const trained = inputs.kernels.trained[layer];
    const untrained = inputs.kernels.untrained[layer];
    const [kh, kw, cin, cout] = trained.shape;
    if (cin === 1) {
      // The chapter's figure: each kernel's only input channel, on the fixed range [-0.5, 0.5].
      const panels = [inputChannelSlice(trained, 0, loc.t('figures.trained')), inputChannelSlice(untrained, 0, loc.t('figures.untrained'))];
      out.push({
        name: `kernels-${layer}`,
        kind: 'kernels',
        layer,
        title: loc.t('figures.kernels.entry', { layer, filters: cout, h: kh, w: kw, lo: KERNEL_DOMAIN[0], hi: KERNEL_DOMAIN[1] }),
        spec: kernelGridSpec(
          panels,
          { title: loc.t('figures.kernels.title', { layer, shape: shapeText([kh, kw, cin, cout]) }), cols: columns(cout, true), domain: KERNEL_DOMAIN },
          loc,
        ),
      });
    } else {
      // Too many cells to draw whole: per output filter, the mean over its input channels, on a
      // range symmetric around 0 that both panels share.
      const panels = [meanOverInputs(trained, loc.t('figures.trained')), meanOverInputs(untrained, loc.t('figures.untrained'))];
      const m = symmetricLimit(panels);
      out.push({
        name: `kernels-${layer}`,
        kind: 'kernels',
        layer,
        title: loc.t('figures.kernels.mean_entry', { layer, in_channels: cin, h: kh, w: kw }),
        spec: kernelGridSpec(
          panels,
          {
            title: loc.t('figures.kernels.mean_title', { layer, in_channels: cin, filters: cout }),
            cols: columns(cout, true),
            domain: [-m, m],
            direction: 'row',
          },
          loc,
        ),
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
  return { name: 'weight-histograms', kind: 'weight-histograms', title: inputs.locale.t('figures.histograms.entry'), spec: weightHistogramSpec(panels, inputs.locale) };
}

function layerPanel(inputs: FigureInputs, map: LayerMap, label: string, zoom?: number) {
  const [, h, , c] = map.shape;
  return mapPanel(tensor(inputs, map.file), label, columns(c, false), zoom ?? mapZoom(h));
}

/** "train image #0" in the figures' language. */
function sampleName(s: FeatureSample, loc: Locale): string {
  return s.split === 'train' ? loc.t('figures.sample.train', { index: s.index }) : loc.t('figures.sample.test', { index: s.index });
}

function describe(s: FeatureSample, classNames: readonly string[], loc: Locale): string {
  return loc.t('figures.sample.describe', {
    image: sampleName(s, loc),
    label: classNames[s.label],
    predicted: classNames[s.prediction],
    p: loc.fmt.pct(s.probabilities[s.prediction], 1),
    verdict: s.prediction === s.label ? loc.t('common.right') : loc.t('common.wrong'),
  });
}

function chapterSampleFigures(inputs: FigureInputs): FigureSpec[] {
  const { features, classNames, locale: loc } = inputs;
  const sample = chapterSample(features);
  const id = slug(sample.id);
  const out: FigureSpec[] = [
    {
      name: `input-${id}`,
      kind: 'input',
      sample: sample.id,
      title: loc.t('figures.input.entry', { sample: describe(sample, classNames, loc) }),
      spec: imageGridSpec(loc.t('figures.input.title', { image: sampleName(sample, loc), label: classNames[sample.label] }), [
        inputPanel(tensor(inputs, sample.image), loc.t('figures.input.subtitle'), 8),
      ]),
    },
  ];
  for (const map of sample.layers) {
    const [, h, w, c] = map.shape;
    const twin = features.untrained.sample === sample.id && map.layer === sample.layers[0].layer ? features.untrained.layers.find((l) => l.layer === map.layer) : undefined;
    const panels = [layerPanel(inputs, map, twin ? loc.t('figures.trained') : '')];
    if (twin) panels.push(layerPanel(inputs, twin, loc.t('figures.untrained')));
    const shape = shapeText(map.shape.slice(1));
    out.push({
      name: `maps-${id}-${map.layer}`,
      kind: 'feature-maps',
      sample: sample.id,
      layer: map.layer,
      title: twin ? loc.t('figures.maps.entry_twin', { layer: map.layer, shape }) : loc.t('figures.maps.entry', { layer: map.layer, shape }),
      spec: imageGridSpec(loc.t('figures.maps.title', { layer: map.layer, channels: c, h, w }), panels),
    });
  }
  return out;
}

/** One compact figure per class: the test image, and its maps of the conv layers (pooling left out). */
function classFigures(inputs: FigureInputs): FigureSpec[] {
  const { features, classNames, locale: loc } = inputs;
  return features.samples
    .filter((s) => s.split === 'test')
    .map((s) => {
      const convs = s.layers.filter((l) => inputs.stats.trained[l.layer]?.kernel.shape.length === 4);
      const panels = [
        inputPanel(tensor(inputs, s.image), loc.t('figures.input_panel'), 2),
        ...convs.map((l) => layerPanel(inputs, l, l.layer, Math.max(1, Math.round(IMAGE_SIZE / l.shape[1])))),
      ];
      // A short title: a long one would widen some figures of the set more than others.
      const short = loc.t('figures.classes.title', {
        label: classNames[s.label],
        index: s.index,
        predicted: classNames[s.prediction],
        p: loc.fmt.pct(s.probabilities[s.prediction], 1),
      });
      return { name: `class-${slug(s.id)}`, kind: 'class-sample' as const, sample: s.id, title: describe(s, classNames, loc), spec: imageGridSpec(short, panels) };
    });
}

export function buildFigures(inputs: FigureInputs): FigureSpec[] {
  return [
    { name: 'model', kind: 'model', title: inputs.locale.t('figures.model.entry'), spec: modelDiagramSpec(inputs.model, inputs.locale) },
    histogramFigure(inputs),
    ...kernelFigures(inputs),
    ...chapterSampleFigures(inputs),
    ...classFigures(inputs),
    ...filterPatternFigures(inputs.patterns),
    ...attentionFigures(inputs.attention),
    ...mistakesFigures(inputs.mistakes),
    ...ownImageFigures(inputs.ownImages),
    ...(inputs.history
      ? [{ name: 'learning-curves', kind: 'learning-curves' as const, title: inputs.locale.t('figures.curves.entry'), spec: learningCurvesSpec(inputs.history, inputs.locale) }]
      : []),
    {
      name: 'confusion',
      kind: 'confusion',
      title: inputs.locale.t('figures.evaluation.confusion_entry'),
      spec: confusionSpec(inputs.metrics.confusion, inputs.classNames, inputs.locale),
    },
    {
      name: 'per-class-accuracy',
      kind: 'per-class-accuracy',
      title: inputs.locale.t('figures.evaluation.per_class'),
      spec: perClassAccuracySpec(inputs.metrics.per_class_accuracy, inputs.classNames, inputs.locale),
    },
  ];
}
