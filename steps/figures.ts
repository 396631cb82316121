/**
 * Every figure of the chapter and a few more, from the artifacts of the earlier steps: per figure
 * its Vega-Lite spec (<name>.vl.json), the SVG vega renders from it in Node, and a PNG of that SVG;
 * index.json lists them. The same artifacts give byte-identical files.
 */
import { BadInputError } from '../pipeline/core/errors.js';
import { readModelSummary } from '../pipeline/catalog/model-summary.js';
import { readNpy, type NpyArray } from '../pipeline/catalog/npy.js';
import type { Lang } from '../pipeline/core/params.js';
import { CLASS_NAMES, type FeatureIndex, type FigureIndex, type History, type Metrics, type WeightStats } from '../pipeline/catalog/schema.js';
import type { Step } from '../pipeline/core/step.js';
import { readJson, writeJson } from '../pipeline/core/files.js';
import { type RunStore } from '../pipeline/catalog/store.js';
import { convLayers } from '../pipeline/render/figures/kernels.js';
import { hasKoreanFont, writeFigure } from '../pipeline/render/figures/write-figure.js';
import { buildFigures, type FigureInputs } from '../pipeline/render/figures/catalog.js';

/** Reads what the figures need; a missing or inconsistent artifact is bad input naming its file. */
export async function loadFigureInputs(store: RunStore, lang: Lang): Promise<FigureInputs> {
  const history = await readJson<History>(store.history);
  const metrics = await readJson<Metrics>(store.metrics);
  const stats = await readJson<WeightStats>(store.weightStats);
  const features = await readJson<FeatureIndex>(store.featureIndex);
  const model = await readModelSummary(store.modelJson);
  if (!Array.isArray(history.rows) || history.rows.length === 0) throw new BadInputError(`${store.history} has no epochs: run the train step again (add --force)`);
  if (!stats.trained || !stats.untrained) throw new BadInputError(`${store.weightStats} lacks trained/untrained statistics: run the weights step again (add --force)`);
  if (!Array.isArray(features.samples) || features.samples.length === 0 || !features.untrained) {
    throw new BadInputError(`${store.featureIndex} lists no samples: run the feature-maps step again (add --force)`);
  }

  const kernels: FigureInputs['kernels'] = { trained: {}, untrained: {} };
  for (const layer of convLayers(stats)) {
    for (const kind of ['trained', 'untrained'] as const) {
      const s = stats[kind][layer]?.kernel;
      if (!s) throw new BadInputError(`${store.weightStats} has no ${kind} kernel of ${layer}: run the weights step again (add --force)`);
      kernels[kind][layer] = checked(await readNpy(store.weightsFile(s.file)), s.shape, store.weightsFile(s.file));
    }
  }

  const tensors = new Map<string, NpyArray>();
  const load = async (file: string, shape?: number[]) => {
    if (!tensors.has(file)) tensors.set(file, checked(await readNpy(store.featureMapsFile(file)), shape, store.featureMapsFile(file)));
  };
  for (const s of features.samples) {
    await load(s.image);
    for (const l of s.layers) await load(l.file, l.shape);
  }
  for (const l of features.untrained.layers) await load(l.file, l.shape);
  return { history, metrics, model, stats, kernels, features, tensors, classNames: CLASS_NAMES[lang] };
}

function checked(t: NpyArray, shape: number[] | undefined, path: string): NpyArray {
  if (shape && t.shape.join() !== shape.join()) {
    throw new BadInputError(`${path} has shape [${t.shape.join(', ')}] but its index says [${shape.join(', ')}]: run the step that wrote it again (add --force)`);
  }
  return t;
}

export const figuresStep: Step = {
  name: 'figures',
  version: 1,
  // Class names appear in the figures, in the report's language.
  params: (p) => ({ lang: p.lang }),
  reads: (store) => [store.history, store.metrics, store.modelJson, store.stepDir('weights'), store.stepDir('feature-maps')],
  writes: (store) => [store.figuresDir],
  async run({ params, store, log }) {
    const started = performance.now();
    if (params.lang === 'ko' && hasKoreanFont() === false) {
      log.warn('no font with Korean glyphs is installed: the PNG figures will show boxes for the Korean class names (SVGs and the report use the fonts of the machine that shows them). Install one, e.g. apt-get install fonts-nanum');
    }
    const figures = buildFigures(await loadFigureInputs(store, params.lang));
    const index: FigureIndex = { figures: [] };
    // One at a time: vega numbers SVG ids with module-level counters.
    for (const fig of figures) index.figures.push((await writeFigure(store.figuresDir, fig)).entry);
    await writeJson(store.figureIndex, index);
    const svgBytes = index.figures.reduce((n, f) => n + f.bytes.svg, 0);
    log.info(`figures: ${index.figures.length} figures (${(svgBytes / 1e6).toFixed(2)} MB of SVG) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  },
};
