/** Loss and accuracy per epoch, train vs validation, with the epoch early stopping restored. */
import type { TopLevelSpec } from 'vega-lite';
import type { History } from '../../catalog/schema.js';
import { localeOf, type Locale } from '../locale.js';
import { CONFIG, roundSignificant, SCHEMA } from './common.js';

export interface CurvePoint {
  epoch: number;
  metric: 'loss' | 'accuracy';
  /** the set, as the legend names it in the figure's language ('train', 'validation' in English) */
  split: string;
  value: number;
}

/** The legend's names of the two sets, in the figure's language. */
const splits = (loc: Locale): [string, string] => [loc.t('figures.curves.train'), loc.t('figures.curves.validation')];

export function curvePoints(history: History, loc: Locale = localeOf('en')): CurvePoint[] {
  const [train, validation] = splits(loc);
  return history.rows.flatMap((r) => [
    { epoch: r.epoch, metric: 'loss' as const, split: train, value: roundSignificant(r.loss) },
    { epoch: r.epoch, metric: 'loss' as const, split: validation, value: roundSignificant(r.val_loss) },
    { epoch: r.epoch, metric: 'accuracy' as const, split: train, value: roundSignificant(r.accuracy) },
    { epoch: r.epoch, metric: 'accuracy' as const, split: validation, value: roundSignificant(r.val_accuracy) },
  ]);
}

export function learningCurvesSpec(history: History, loc: Locale = localeOf('en')): TopLevelSpec {
  const points = curvePoints(history, loc);
  const split = { color: { field: 'split', type: 'nominal' as const, title: null, scale: { domain: splits(loc), range: ['#1f77b4', '#ff7f0e'] } } };
  const bestEpoch = (metric: CurvePoint['metric']) => ({
    data: { values: [{ epoch: history.best_epoch, label: loc.t('figures.curves.best', { n: history.best_epoch }) }] },
    layer: [
      { mark: { type: 'rule' as const, strokeDash: [4, 3], color: '#555' }, encoding: { x: { field: 'epoch', type: 'quantitative' as const } } },
      {
        // Loss is lowest and accuracy highest near the best epoch: put the label where the curves are not.
        mark: {
          type: 'text' as const,
          align: 'left' as const,
          baseline: metric === 'loss' ? ('top' as const) : ('bottom' as const),
          dx: 4,
          y: metric === 'loss' ? 4 : 216,
          color: '#555',
          fontSize: 11,
        },
        encoding: { x: { field: 'epoch', type: 'quantitative' as const }, text: { field: 'label' } },
      },
    ],
  });
  const panel = (metric: CurvePoint['metric']) => curvePanel(points, metric, split, [bestEpoch(metric)], loc);
  const n = history.rows.length;
  return {
    $schema: SCHEMA,
    title: history.stopped_early
      ? loc.t('figures.curves.title_early', { n, best: history.best_epoch })
      : loc.t('figures.curves.title', { n, best: history.best_epoch }),
    config: CONFIG,
    hconcat: [panel('loss'), panel('accuracy')],
  };
}

/**
 * One metric's panel: its curves over the epochs (told apart by `encoding`, beside x and y), with
 * `over` layered on top.
 */
function curvePanel<E extends object, L>(points: CurvePoint[], metric: CurvePoint['metric'], encoding: E, over: L[], loc: Locale) {
  return {
    width: 300,
    height: 220,
    layer: [
      {
        data: { values: points.filter((p) => p.metric === metric) },
        mark: { type: 'line' as const, point: true },
        encoding: {
          x: { field: 'epoch', type: 'quantitative' as const, title: loc.t('figures.curves.epoch'), axis: { tickMinStep: 1, format: 'd' } },
          y: {
            field: 'value',
            type: 'quantitative' as const,
            title: metric === 'loss' ? loc.t('figures.curves.loss') : loc.t('figures.curves.accuracy'),
            scale: { zero: false },
          },
          ...encoding,
        },
      },
      ...over,
    ],
  };
}

export interface CurveRun {
  /** legend label, e.g. "A: quick" */
  label: string;
  color: string;
  history: History;
}

/**
 * Several runs' curves on the same axes (the diff's A and B): colour = run, dash = split, and a
 * dotted rule at each run's best epoch in its colour.
 */
export function learningCurvesOverlaySpec(runs: CurveRun[], loc: Locale = localeOf('en')): TopLevelSpec {
  const points = runs.flatMap((r) => curvePoints(r.history, loc).map((p) => ({ ...p, run: r.label })));
  const color = { field: 'run', type: 'nominal' as const, title: null, scale: { domain: runs.map((r) => r.label), range: runs.map((r) => r.color) } };
  const split = {
    color,
    strokeDash: {
      field: 'split',
      type: 'nominal' as const,
      title: null,
      scale: { domain: splits(loc), range: [[1, 0], [5, 3]] },
      // A line in the legend, so the dash shows (the default symbol is the point).
      legend: { symbolType: 'stroke', symbolStrokeWidth: 2, symbolSize: 300, encode: { symbols: { update: { stroke: { value: '#555' } } } } },
    },
    detail: { field: 'split', type: 'nominal' as const },
  };
  const bestEpochs = {
    data: { values: runs.map((r) => ({ run: r.label, epoch: r.history.best_epoch })) },
    mark: { type: 'rule' as const, strokeDash: [2, 3], opacity: 0.7 },
    encoding: { x: { field: 'epoch', type: 'quantitative' as const }, color },
  };
  const panel = (metric: CurvePoint['metric']) => curvePanel(points, metric, split, [bestEpochs], loc);
  return {
    $schema: SCHEMA,
    title: runs.length === 2 ? loc.t('figures.curves.overlay', { a: runs[0].label, b: runs[1].label }) : loc.t('figures.curves.overlay_one', { a: runs.map((r) => r.label).join(', ') }),
    config: CONFIG,
    hconcat: [panel('loss'), panel('accuracy')],
  };
}
