/** The report's "what it gets wrong" part (beyond the chapter): the most confident mistakes and the map, from mistakes/index.json. */
import type { FigureIndex, MistakesIndex } from '../../pipeline/catalog/schema.js';
import { QUICK_MAP_POINTS } from '../mistakes.js';

/** How many (true, predicted) pairs the text names: the most frequent mistakes. */
const PAIRS = 3;

/** `beyond.mistakes` of the report's context: data only; `map` is null for a model without a hidden Dense layer. */
export function mistakesSection(index: MistakesIndex, figures: FigureIndex, names: readonly string[], testSetSize: number) {
  const figure = (kind: 'mistakes' | 'mistakes-map') => figures.figures.find((f) => f.kind === kind)?.name ?? null;
  const pairs = index.confusion
    .flatMap((row, label) => row.map((count, predicted) => ({ label: names[label], predicted: names[predicted], count })))
    .filter((p) => p.count > 0)
    // The same order every run: by count, then by class (the confusion matrix's order).
    .sort((a, b) => b.count - a.count)
    .slice(0, PAIRS);
  const { map } = index;
  return {
    test_images: index.test_images,
    /** fewer than the whole test set: the quick profile's subset, or --map-points */
    subset: index.test_images < testSetSize,
    test_set: testSetSize,
    quick_default: QUICK_MAP_POINTS,
    mistakes: index.mistakes,
    share: index.mistakes / index.test_images,
    shown: index.top.length,
    top: index.top.map((m) => ({ rank: m.rank, index: m.index, label: names[m.label] ?? m.class_name, predicted: names[m.prediction] ?? String(m.prediction), probability: m.probability })),
    pairs,
    figure: figure('mistakes'),
    map: map
      ? {
          layer: map.layer,
          units: map.units,
          code: map.code,
          points: map.points,
          n_neighbors: map.n_neighbors,
          n_epochs: map.n_epochs,
          seed: map.seed,
          seconds: map.seconds,
          figure: figure('mistakes-map'),
        }
      : null,
  };
}
