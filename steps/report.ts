/**
 * The run's report: one self-contained HTML page (report.html at the run folder's top) that walks
 * through the chapter with this run's own numbers and figures, and report.json, the Handlebars
 * context it was rendered from.
 */
import { DATASET_FILES } from '../pipeline/catalog/dataset.js';
import type { RunManifest } from '../pipeline/core/manifest.js';
import type { ModelSummary } from '../pipeline/catalog/model-summary.js';
import type { Lang, Params } from '../pipeline/core/params.js';
import { createPageRenderer, templateFiles } from '../pipeline/render/report-html.js';
import { chapterSample, CLASS_NAMES, type FeatureIndex, type FeatureSample, type FigureEntry, type FigureIndex, type History, type Metrics, type TensorStats, type WeightStats } from '../pipeline/catalog/schema.js';
import { defineStep, type RunStore } from '../pipeline/catalog/store.js';
import type { FilterPatternsIndex } from '../pipeline/catalog/schema.js';
import { filterPatternsSection } from './report/beyond-filter-patterns.js';
import type { AttentionIndex } from '../pipeline/catalog/schema.js';
import { attentionSection } from './report/beyond-attention.js';
import type { MistakesIndex } from '../pipeline/catalog/schema.js';
import { mistakesSection } from './report/beyond-mistakes.js';
import type { OwnImagesIndex } from '../pipeline/catalog/schema.js';
import { ownImagesSection } from './report/beyond-own-images.js';

/** What the report reads, already parsed. `manifest` is run.json, read leniently (fields may be missing). */
export interface ReportInputs {
  lang: Lang;
  runId: string;
  manifest: Partial<RunManifest>;
  /** null for a model imported with --model: it was not trained here */
  history: History | null;
  metrics: Metrics;
  model: ModelSummary;
  stats: WeightStats;
  features: FeatureIndex;
  figures: FigureIndex;
  /** filter-patterns/index.json: the inputs that excite each conv filter most */
  patterns: FilterPatternsIndex;
  /** attention/index.json: Grad-CAM and saliency of the samples */
  attention: AttentionIndex;
  /** mistakes/index.json: the most confident mistakes and the map of the hidden Dense layer */
  mistakes: MistakesIndex;
  /** own-images/index.json: the reader's pictures (--image) */
  ownImages: OwnImagesIndex;
}

const moments = (s: TensorStats) => ({ mean: s.mean, std: s.std, min: s.min, max: s.max });

function figureOf(figures: FigureIndex, kind: FigureEntry['kind'], match: Partial<FigureEntry> = {}): string | undefined {
  return figures.figures.find((f) => f.kind === kind && Object.entries(match).every(([k, v]) => f[k as keyof FigureEntry] === v))?.name;
}

// Missing values are null: the page says "unknown" in its own language.
const text = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** The Handlebars context (saved as report.json): data only, no markup and no words (templates/messages/ has those). */
export function buildReportContext(inputs: ReportInputs) {
  const { lang, manifest, history, metrics, model, stats, features, figures } = inputs;
  const names: readonly string[] = CLASS_NAMES[lang];
  const params = (manifest.params ?? {}) as RecordedParams;
  const chapter = chapterSample(features);
  return {
    lang,
    run: runSection(manifest, params, inputs.runId),
    model: { layers: model.layers, total_params: model.total_params, input_shape: model.input_shape, figure: figureOf(figures, 'model') },
    weights: weightsSection(stats, figures),
    functional: functionalSection(features, chapter),
    maps: mapsSection(features, chapter, figures, names),
    training: history ? trainingSection(history, params, figures) : null,
    imported: importedSection(params),
    evaluation: evaluationSection(metrics, figures, names),
    // The parts beyond the chapter, one per step, in step order (templates/partials/beyond-<step>.hbs).
    beyond: {
      filter_patterns: filterPatternsSection(inputs.patterns, figures),
      attention: attentionSection(inputs.attention, figures, names),
      mistakes: mistakesSection(inputs.mistakes, figures, names, metrics.test.count),
      own_images: ownImagesSection(inputs.ownImages, figures, names),
    },
    figures: {
      count: figures.figures.length,
      svg_bytes: figures.figures.reduce((n, f) => n + f.bytes.svg, 0),
    },
  };
}

/** run.json's params, read leniently. */
type RecordedParams = Partial<Record<string, unknown>>;

/** 1 Weights: each layer's trained and untrained moments, and the conv layers' kernels. */
function weightsSection(stats: WeightStats, figures: FigureIndex) {
  const layers = Object.keys(stats.trained).map((layer) => ({
    layer,
    kernel_shape: stats.trained[layer].kernel.shape,
    bias_shape: stats.trained[layer].bias.shape,
    trained: moments(stats.trained[layer].kernel),
    untrained: moments(stats.untrained[layer].kernel),
    glorot: stats.glorot[layer] ?? null,
  }));
  const convs = layers.filter((l) => l.kernel_shape.length === 4);
  const first = convs[0];
  const kernels = convs.map((l) => ({
    layer: l.layer,
    figure: figureOf(figures, 'kernels', { layer: l.layer }),
    /** the chapter's view (each kernel's only input channel) or the mean over input channels */
    mean_over_inputs: l.kernel_shape[2] > 1,
    in_channels: l.kernel_shape[2],
    filters: l.kernel_shape[3],
    size: l.kernel_shape.slice(0, 2),
  }));
  return {
    layers,
    // `spread`: wide enough to call the trained distribution the chapter's bell with long tails.
    first: first ? { ...first, ratio: first.trained.std / first.untrained.std, spread: first.trained.std / first.untrained.std >= 1.5 } : null,
    histograms: figureOf(figures, 'weight-histograms'),
    kernels,
    untrained_seed: stats.untrained_seed,
  };
}

/** 2 The functional API: the sub-models built for the chapter's sample and for the untrained twin. */
function functionalSection(features: FeatureIndex, chapter: FeatureSample) {
  return {
    sub_models: chapter.layers.map((l) => ({ layer: l.layer, code: l.code, shape: l.shape })),
    untrained: features.untrained.layers.map((l) => ({ layer: l.layer, code: l.code, shape: l.shape })),
  };
}

/** Channels that never fire on the sample (max not above 0). */
const deadChannels = (channels: { max: number }[]) => channels.filter((c) => !(c.max > 0)).length;

/** 3 Feature maps: the chapter's sample layer by layer, then one test image per class. */
function mapsSection(features: FeatureIndex, chapter: FeatureSample, figures: FigureIndex, names: readonly string[]) {
  const describe = (s: FeatureSample) => ({
    id: s.id,
    split: s.split,
    index: s.index,
    label: s.label,
    class_name: names[s.label] ?? s.class_name,
    predicted: names[s.prediction] ?? String(s.prediction),
    probability: s.probabilities[s.prediction],
    right: s.prediction === s.label,
  });
  const untrainedFirst = features.untrained.layers[0];
  const mapLayers = chapter.layers.map((l) => ({
    layer: l.layer,
    shape: l.shape.slice(1),
    channels: l.shape[3],
    dead: deadChannels(l.channels),
    figure: figureOf(figures, 'feature-maps', { sample: chapter.id, layer: l.layer }),
    with_untrained: untrainedFirst?.layer === l.layer,
  }));
  const classSamples = features.samples
    .filter((s) => s.split === 'test')
    .map((s) => ({ ...describe(s), figure: figureOf(figures, 'class-sample', { sample: s.id }) }));
  return {
    sample: describe(chapter),
    input_figure: figureOf(figures, 'input', { sample: chapter.id }),
    layers: mapLayers,
    untrained_dead: untrainedFirst ? deadChannels(untrainedFirst.channels) : null,
    untrained_layer: untrainedFirst?.layer ?? null,
    classes: classSamples,
    classes_right: classSamples.filter((c) => c.right).length,
  };
}

/** Training: the epochs run, the best one, and the settings they ran with. */
function trainingSection(history: History, params: RecordedParams, figures: FigureIndex) {
  return {
    rows: history.rows,
    epochs_run: history.rows.length,
    max_epochs: num(params.epochs),
    patience: num(params.patience),
    batch_size: num(params.batchSize),
    best_epoch: history.best_epoch,
    best: history.rows.find((r) => r.epoch === history.best_epoch) ?? null,
    stopped_early: history.stopped_early,
    seconds: history.rows.reduce((n, r) => n + r.seconds, 0),
    figure: figureOf(figures, 'learning-curves'),
  };
}

/** An imported model (--model): the file it came from, as run.json records it; null for a trained run. */
function importedSection(params: RecordedParams) {
  const model = params.model as Partial<Record<string, unknown>> | undefined;
  if (!model || typeof model !== 'object') return null;
  const path = text(model.path) ?? '';
  return {
    path,
    file: path.split(/[\\/]/).pop() ?? '',
    sha256: text(model.sha256),
    format: text(model.format),
    keras_version: typeof model.keras_version === 'string' ? model.keras_version : null,
    date_saved: typeof model.date_saved === 'string' ? model.date_saved : null,
  };
}

/** Evaluation: val and test metrics, and the accuracy of each class with its worst and best. */
function evaluationSection(metrics: Metrics, figures: FigureIndex, names: readonly string[]) {
  const perClass = metrics.per_class_accuracy.map((accuracy, i) => ({
    name: names[i],
    accuracy,
    right: metrics.confusion[i]?.[i] ?? null,
    total: metrics.confusion[i]?.reduce((a, b) => a + b, 0) ?? null,
  }));
  const ranked = [...perClass].sort((a, b) => a.accuracy - b.accuracy);
  return {
    val: metrics.val,
    test: metrics.test,
    per_class: perClass,
    worst: ranked[0] ?? null,
    best: ranked[ranked.length - 1] ?? null,
    confusion: figureOf(figures, 'confusion'),
    per_class_figure: figureOf(figures, 'per-class-accuracy'),
  };
}

/** Run info: who made the run, how, and how each step went. */
function runSection(manifest: Partial<RunManifest>, params: RecordedParams, runId: string) {
  return {
    id: text(manifest.run_id) ?? runId,
    created: text(manifest.created),
    git_commit: text(manifest.git_commit),
    backend: text(manifest.backend),
    backend_reason: text(manifest.backend_reason),
    profile: text(manifest.profile ?? params.profile),
    seed: num(manifest.seed ?? params.seed),
    params: Object.keys(params)
      .sort()
      .map((key) => ({ key, value: text(params[key]) ?? JSON.stringify(params[key]) })),
    steps: stepRows(manifest),
    versions: Object.entries(manifest.versions ?? {})
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, version]) => ({ name, version: text(version) })),
    dataset: DATASET_FILES.map((f) => ({ name: f.name, bytes: f.bytes, sha256: f.sha256 })),
  };
}

/** The steps of run.json, in pipeline order. */
function stepRows(manifest: Partial<RunManifest>) {
  // run.json's keys are sorted alphabetically on disk: show the steps in pipeline order, which
  // run.json records too.
  const order = (name: string) => (manifest.pipeline ?? []).indexOf(name) >>> 0;
  // The report's own row would only ever say "running": it is being written.
  return Object.entries(manifest.steps ?? {})
    .filter(([name]) => name !== 'report')
    .sort(([a], [b]) => order(a) - order(b) || a.localeCompare(b))
    .map(([name, r]) => ({
      name,
      status: text(r?.status),
      seconds: num(r?.seconds),
      started: text(r?.started),
      error: typeof r?.error === 'string' ? r.error : null,
    }));
}

export type ReportContext = ReturnType<typeof buildReportContext>;

/** The artifacts the report shows. */
const reportSources = (store: RunStore, p?: Params) => ({
  // run.json carries no paths (see runRecord): the report shows it as it is when written.
  run: store.runRecord,
  history: p?.model ? undefined : store.history,
  metrics: store.metrics,
  model: store.model.topology,
  // Only stats.json and index.json of these folders: a tensor's bytes do not change the report.
  stats: store.weights.index,
  features: store.featureMaps.index,
  patterns: store.filterPatterns.index,
  attention: store.attention.index,
  mistakes: store.mistakes.index,
  ownImages: store.ownImages.index,
  figures: store.figures,
});

export async function loadReportInputs(inputs: ReturnType<typeof reportSources>, runId: string, lang: Lang): Promise<ReportInputs> {
  return {
    lang,
    runId,
    manifest: await inputs.run.read(),
    history: inputs.history ? await inputs.history.read() : null,
    metrics: await inputs.metrics.read(),
    model: await inputs.model.summary(),
    stats: await inputs.stats.read(),
    features: await inputs.features.read(),
    patterns: await inputs.patterns.read(),
    attention: await inputs.attention.read(),
    mistakes: await inputs.mistakes.read(),
    ownImages: await inputs.ownImages.read(),
    figures: await inputs.figures.index.read(),
  };
}

/** Renders report.html from a context and the figures' SVGs. */
export async function renderReport(context: ReportContext, svgs: Map<string, string>): Promise<string> {
  const renderer = await createPageRenderer();
  return renderer.render('report', context, svgs, context.lang);
}

export const reportStep = defineStep({
  name: 'report',
  module: import.meta.url,
  files: templateFiles,
  packages: ['handlebars'],
  // report.html and report.json sit at the run folder's top, beside other steps' folders: no
  // staging folder to swap in; each file is written atomically instead.
  staged: false,
  params: (p) => ({ lang: p.lang }),
  inputs: reportSources,
  outputs: (store) => ({ html: store.reportHtml, context: store.reportJson }),
  async run({ params, runId, inputs, outputs, log }) {
    const started = performance.now();
    const context = buildReportContext(await loadReportInputs(inputs, runId, params.lang));
    const { svgs } = await inputs.figures.readSvgs();
    const html = await renderReport(context, svgs);
    await outputs.context.write(context);
    await outputs.html.write(html);
    log.info(`report: ${outputs.html.path} (${(Buffer.byteLength(html) / 1e6).toFixed(2)} MB) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  },
});
