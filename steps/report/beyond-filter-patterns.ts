/** The report's "what pattern does each filter want?" part (beyond the chapter), from filter-patterns/index.json. */
import type { FigureIndex, FilterPatternsIndex, PatternFilter } from '../../pipeline/catalog/schema.js';

const average = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);

function summary(filters: PatternFilter[]) {
  const dead = filters.flatMap((f, i) => (f.dead ? [i] : []));
  return {
    filters: filters.length,
    dead: dead.length,
    /** the dead filters' numbers (from 0), for the page to name them */
    dead_list: dead.join(', '),
    start_mean: average(filters.map((f) => f.start_mean)),
    mean: average(filters.map((f) => f.mean)),
  };
}

/** `beyond.filter_patterns` of the report's context: data only; no layers for a model without a conv layer. */
export function filterPatternsSection(index: FilterPatternsIndex, figures: FigureIndex) {
  const layers = index.layers.map((l) => {
    const [filters] = l.shape;
    const cols = filters === 32 ? 16 : Math.ceil(Math.sqrt(filters));
    return {
      layer: l.layer,
      filters,
      reads_image: l.reads === null,
      reads: l.reads,
      grid: `${Math.ceil(filters / cols)} × ${cols}`,
      /** wide grids are stacked, square ones side by side (pipeline/render/figures/filter-patterns.ts) */
      stacked: cols > 8,
      figure: figures.figures.find((f) => f.kind === 'filter-patterns' && f.layer === l.layer)?.name,
      trained: summary(l.trained.filters),
      untrained: summary(l.untrained.filters),
    };
  });
  return {
    settings_of: index.settings_of,
    steps: index.steps,
    step_size: index.step_size,
    penalty: index.penalty,
    seed: index.seed,
    start: index.start,
    layers,
    dead: layers.reduce((n, l) => n + l.trained.dead + l.untrained.dead, 0),
    /** the first layer behind other layers, whose patterns are textures (said once, after its figure) */
    deeper: layers.find((l) => !l.reads_image)?.layer ?? null,
  };
}
