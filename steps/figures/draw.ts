/** Draws the figures: artifacts in, one spec, SVG and PNG per figure out. */
import { BadInputError } from '../../pipeline/core/errors.js';
import type { NpyArray } from '../../pipeline/catalog/npy.js';
import type { Lang } from '../../pipeline/core/params.js';
import { CLASS_NAMES, type FigureIndex } from '../../pipeline/catalog/schema.js';
import type { StepContext } from '../../pipeline/core/step.js';
import { convLayers } from '../../pipeline/render/figures/kernels.js';
import { hasKoreanFont, renderFigure } from '../../pipeline/render/figures/write-figure.js';
import { buildFigures, type FigureInputs } from '../../pipeline/render/figures/catalog.js';
import type { FigureFolder } from '../../pipeline/catalog/artifacts.js';
import type { figureSources } from '../figures.js';
import { loadOwnImages } from '../../pipeline/render/figures/own-images.js';
import { loadFilterPatterns } from '../../pipeline/render/figures/filter-patterns.js';
import { loadAttention } from '../../pipeline/render/figures/attention.js';
import { loadMistakes } from '../../pipeline/render/figures/mistakes.js';
import { loadCatalog } from '../../pipeline/render/messages.js';
import { localeOf } from '../../pipeline/render/locale.js';

type Sources = ReturnType<typeof figureSources>;

/** Reads what the figures need; a missing or inconsistent artifact is bad input naming its file. */
export async function loadFigureInputs(inputs: Sources, lang: Lang): Promise<FigureInputs> {
  const history = inputs.history ? await inputs.history.read() : null;
  const metrics = await inputs.metrics.read();
  const stats = await inputs.weights.index.read();
  const features = await inputs.maps.index.read();
  const model = await inputs.model.summary();
  if (history?.rows.length === 0 && inputs.history) throw new BadInputError(`${inputs.history.path} has no epochs: run the train step again (add --force)`);
  if (features.samples.length === 0) throw new BadInputError(`${inputs.maps.index.path} lists no samples: run the feature-maps step again (add --force)`);

  const kernels: FigureInputs['kernels'] = { trained: {}, untrained: {} };
  for (const layer of convLayers(stats)) {
    for (const kind of ['trained', 'untrained'] as const) {
      const s = stats[kind][layer]?.kernel;
      if (!s) throw new BadInputError(`${inputs.weights.index.path} has no ${kind} kernel of ${layer}: run the weights step again (add --force)`);
      kernels[kind][layer] = await inputs.weights.read(s.file, s.shape);
    }
  }

  const tensors = new Map<string, NpyArray>();
  const load = async (file: string, shape?: number[]) => {
    if (!tensors.has(file)) tensors.set(file, await inputs.maps.read(file, shape));
  };
  for (const s of features.samples) {
    await load(s.image);
    for (const l of s.layers) await load(l.file, l.shape);
  }
  for (const l of features.untrained.layers) await load(l.file, l.shape);
  const patterns = await loadFilterPatterns(inputs.patterns, localeOf(lang));
  const attention = await loadAttention(inputs.attention, CLASS_NAMES[lang], loadCatalog(lang));
  const mistakes = await loadMistakes(inputs.mistakes, CLASS_NAMES[lang], localeOf(lang));
  const ownImages = await loadOwnImages(inputs.ownImages, CLASS_NAMES[lang], loadCatalog(lang));
  return { history, metrics, model, stats, kernels, features, tensors, classNames: CLASS_NAMES[lang], locale: localeOf(lang), patterns, attention, mistakes, ownImages };
}

type Context = StepContext<Sources, { figures: FigureFolder }>;

export async function drawFigures({ params, inputs, outputs, log }: Context): Promise<void> {
  const started = performance.now();
  if (params.lang === 'ko' && hasKoreanFont() === false) {
    log.warn('no font with Korean glyphs is installed: the PNG figures will show boxes for the Korean class names (SVGs and the report use the fonts of the machine that shows them). Install one, e.g. apt-get install fonts-nanum');
  }
  const figures = buildFigures(await loadFigureInputs(inputs, params.lang));
  const index: FigureIndex = { figures: [] };
  // One at a time: vega numbers SVG ids with module-level counters.
  for (const fig of figures) {
    const { entry, files } = await renderFigure(fig);
    await outputs.figures.write(fig.name, files);
    index.figures.push(entry);
  }
  await outputs.figures.index.write(index);
  const svgBytes = index.figures.reduce((n, f) => n + f.bytes.svg, 0);
  log.info(`figures: ${index.figures.length} figures (${(svgBytes / 1e6).toFixed(2)} MB of SVG) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}
