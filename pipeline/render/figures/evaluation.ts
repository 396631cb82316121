/** The test set's confusion matrix and per-class accuracy, with the run's class names. */
import type { TopLevelSpec } from 'vega-lite';
import { localeOf, type Locale } from '../locale.js';
import { CONFIG, roundSignificant, SCHEMA } from './common.js';

export interface ConfusionCell {
  true_class: string;
  predicted: string;
  count: number;
  /** share of the true class's images */
  rate: number;
}

export function confusionCells(confusion: number[][], classNames: readonly string[]): ConfusionCell[] {
  return confusion.flatMap((row, t) => {
    const total = row.reduce((a, b) => a + b, 0);
    return row.map((count, p) => ({ true_class: classNames[t], predicted: classNames[p], count, rate: roundSignificant(total > 0 ? count / total : 0, 4) }));
  });
}

function checkSquare(confusion: number[][], classNames: readonly string[]): void {
  if (confusion.length !== classNames.length || confusion.some((r) => r.length !== classNames.length)) {
    throw new Error(`confusion matrix must be ${classNames.length} x ${classNames.length}`);
  }
}

export function confusionSpec(confusion: number[][], classNames: readonly string[], loc: Locale = localeOf('en')): TopLevelSpec {
  checkSquare(confusion, classNames);
  const order = [...classNames];
  return {
    $schema: SCHEMA,
    title: loc.t('figures.evaluation.confusion_title'),
    config: CONFIG,
    width: 360,
    height: 360,
    data: { values: confusionCells(confusion, classNames) },
    encoding: {
      x: { field: 'predicted', type: 'ordinal', sort: order, title: loc.t('figures.evaluation.predicted'), axis: { labelAngle: -40, labelLimit: 120, grid: false } },
      y: { field: 'true_class', type: 'ordinal', sort: order, title: loc.t('figures.evaluation.true_class'), axis: { labelLimit: 120, grid: false } },
    },
    layer: [
      {
        // Colour by the share of the true class: the diagonal's ~900 would otherwise wash out every mistake.
        mark: { type: 'rect', aria: false },
        encoding: { color: { field: 'rate', type: 'quantitative', title: loc.t('figures.evaluation.share'), scale: { range: ['#ffffff', '#08519c'], interpolate: 'rgb', domain: [0, 1] }, legend: { format: '.0%' } } },
      },
      {
        mark: { type: 'text', fontSize: 10, aria: false },
        encoding: {
          text: { field: 'count', type: 'quantitative' },
          color: { condition: { test: 'datum.rate > 0.5', value: 'white' }, value: '#222' },
        },
      },
    ],
  };
}

export function perClassAccuracySpec(accuracy: number[], classNames: readonly string[], loc: Locale = localeOf('en')): TopLevelSpec {
  if (accuracy.length !== classNames.length) throw new Error(`per-class accuracy must have ${classNames.length} values`);
  const values = accuracy.map((a, i) => ({ class_name: classNames[i], accuracy: roundSignificant(a, 4) }));
  const y = { field: 'class_name', type: 'ordinal' as const, sort: [...classNames], title: null, axis: { labelLimit: 140 } };
  return {
    $schema: SCHEMA,
    title: loc.t('figures.evaluation.per_class'),
    config: CONFIG,
    width: 300,
    height: { step: 20 },
    data: { values },
    layer: [
      {
        mark: { type: 'bar', color: '#1f77b4' },
        encoding: { y, x: { field: 'accuracy', type: 'quantitative', title: loc.t('figures.evaluation.accuracy'), scale: { domain: [0, 1] }, axis: { format: '.0%' } } },
      },
      {
        mark: { type: 'text', align: 'right', dx: -4, color: 'white', fontSize: 10 },
        encoding: { y, x: { field: 'accuracy', type: 'quantitative' }, text: { field: 'accuracy', type: 'quantitative', format: '.1%' } },
      },
    ],
  };
}

const BETTER = '#1b7f3b';
const WORSE = '#b3261e';

/** Per class, B's test accuracy minus A's, in percentage points: green where B is better. */
export function perClassDeltaSpec(a: number[], b: number[], classNames: readonly string[], labels: [string, string], loc: Locale = localeOf('en')): TopLevelSpec {
  if (a.length !== classNames.length || b.length !== classNames.length) throw new Error(`per-class accuracy must have ${classNames.length} values`);
  // The legend shows these names: in the figure's language.
  const effects = [loc.t('figures.evaluation.better'), loc.t('figures.evaluation.worse'), loc.t('figures.evaluation.same')];
  const values = classNames.map((class_name, i) => {
    const delta = roundSignificant(b[i] - a[i], 4);
    return { class_name, a: roundSignificant(a[i], 4), b: roundSignificant(b[i], 4), delta, effect: delta > 0 ? effects[0] : delta < 0 ? effects[1] : effects[2] };
  });
  const y = { field: 'class_name', type: 'ordinal' as const, sort: [...classNames], title: null, axis: { labelLimit: 140 } };
  const m = Math.max(0.01, ...values.map((v) => Math.abs(v.delta)));
  return {
    $schema: SCHEMA,
    title: loc.t('figures.evaluation.per_class_delta', { a: labels[0], b: labels[1] }),
    config: CONFIG,
    width: 320,
    height: { step: 20 },
    data: { values },
    layer: [
      {
        mark: { type: 'bar' },
        encoding: {
          y,
          x: { field: 'delta', type: 'quantitative', title: loc.t('figures.evaluation.delta_accuracy'), scale: { domain: [-m, m] }, axis: { format: '+.1%' } },
          color: { field: 'effect', type: 'nominal', title: null, scale: { domain: effects, range: [BETTER, WORSE, '#999'] } },
        },
      },
      { mark: { type: 'rule', color: '#555' }, encoding: { x: { datum: 0, type: 'quantitative' } } },
    ],
  };
}

/**
 * B's test confusion counts minus A's. Colour says better or worse, not the sign: more images on
 * the diagonal (right) is better, more off it (a mistake) is worse; the text is the signed count.
 */
export function confusionDeltaSpec(delta: number[][], classNames: readonly string[], labels: [string, string], loc: Locale = localeOf('en')): TopLevelSpec {
  checkSquare(delta, classNames);
  const cells = delta.flatMap((row, t) =>
    row.map((d, p) => ({ true_class: classNames[t], predicted: classNames[p], delta: d, effect: t === p ? d : -d, text: d === 0 ? '' : d > 0 ? `+${d}` : String(d) })),
  );
  const m = Math.max(1, ...cells.map((c) => Math.abs(c.delta)));
  const order = [...classNames];
  return {
    $schema: SCHEMA,
    title: loc.t('figures.evaluation.confusion_delta', { a: labels[0], b: labels[1] }),
    config: CONFIG,
    width: 360,
    height: 360,
    data: { values: cells },
    encoding: {
      x: { field: 'predicted', type: 'ordinal', sort: order, title: loc.t('figures.evaluation.predicted'), axis: { labelAngle: -40, labelLimit: 120, grid: false } },
      y: { field: 'true_class', type: 'ordinal', sort: order, title: loc.t('figures.evaluation.true_class'), axis: { labelLimit: 120, grid: false } },
    },
    layer: [
      {
        mark: { type: 'rect', aria: false },
        encoding: {
          color: {
            field: 'effect',
            type: 'quantitative',
            title: [loc.t('figures.evaluation.delta_legend'), loc.t('figures.evaluation.delta_legend_unit')],
            scale: { domain: [-m, 0, m], range: [WORSE, '#ffffff', BETTER], interpolate: 'rgb' },
          },
        },
      },
      {
        mark: { type: 'text', fontSize: 10, aria: false },
        encoding: {
          text: { field: 'text' },
          color: { condition: { test: `abs(datum.effect) > ${m / 2}`, value: 'white' }, value: '#222' },
        },
      },
    ],
  };
}
