/**
 * Every figure of the chapter and a few more, from the artifacts of the earlier steps: per figure
 * its Vega-Lite spec (<name>.vl.json), the SVG vega renders from it in Node, and a PNG of that SVG;
 * index.json lists them. The same artifacts give byte-identical files.
 */
import { defineStep, type RunStore } from '../pipeline/catalog/store.js';
import type { Params } from '../pipeline/core/params.js';
import { catalogFiles } from '../pipeline/render/messages.js';

/** The artifacts the figures are drawn from. */
export const figureSources = (store: RunStore, p?: Params) => ({
  // An imported model (--model) was not trained here: no history, no learning curves.
  history: p?.model ? undefined : store.history,
  metrics: store.metrics,
  model: store.model.topology,
  weights: store.weights,
  maps: store.featureMaps,
  patterns: store.filterPatterns,
  attention: store.attention,
  mistakes: store.mistakes,
  ownImages: store.ownImages,
});

export const figuresStep = defineStep({
  name: 'figures',
  module: import.meta.url,
  packages: ['vega', 'vega-lite', '@resvg/resvg-js'],
  // Figure titles and axis titles come from the message catalogs.
  files: () => catalogFiles(),
  // Class names appear in the figures, in the report's language.
  params: (p) => ({ lang: p.lang }),
  inputs: figureSources,
  outputs: (store) => ({ figures: store.figures }),
  // vega and resvg load only when the figures are drawn, never in a run where they are up to date.
  run: async (ctx): Promise<void> => (await import('./figures/draw.js')).drawFigures(ctx),
});
