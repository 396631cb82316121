/** Loss and accuracy per epoch, train vs validation, with the epoch early stopping restored. */
import type { TopLevelSpec } from 'vega-lite';
import type { History } from '../../catalog/schema.js';
import { CONFIG, roundSignificant, SCHEMA } from './common.js';

export interface CurvePoint {
  epoch: number;
  metric: 'loss' | 'accuracy';
  split: 'train' | 'validation';
  value: number;
}

export function curvePoints(history: History): CurvePoint[] {
  return history.rows.flatMap((r) => [
    { epoch: r.epoch, metric: 'loss' as const, split: 'train' as const, value: roundSignificant(r.loss) },
    { epoch: r.epoch, metric: 'loss' as const, split: 'validation' as const, value: roundSignificant(r.val_loss) },
    { epoch: r.epoch, metric: 'accuracy' as const, split: 'train' as const, value: roundSignificant(r.accuracy) },
    { epoch: r.epoch, metric: 'accuracy' as const, split: 'validation' as const, value: roundSignificant(r.val_accuracy) },
  ]);
}

export function learningCurvesSpec(history: History): TopLevelSpec {
  const points = curvePoints(history);
  const split = { color: { field: 'split', type: 'nominal' as const, title: null, scale: { domain: ['train', 'validation'], range: ['#1f77b4', '#ff7f0e'] } } };
  const bestEpoch = (metric: CurvePoint['metric']) => ({
    data: { values: [{ epoch: history.best_epoch, label: `best epoch ${history.best_epoch}` }] },
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
  const panel = (metric: CurvePoint['metric']) => curvePanel(points, metric, split, [bestEpoch(metric)]);
  return {
    $schema: SCHEMA,
    title: `Learning curves (${history.rows.length} epochs, best epoch ${history.best_epoch}${history.stopped_early ? ', stopped early' : ''})`,
    config: CONFIG,
    hconcat: [panel('loss'), panel('accuracy')],
  };
}

/**
 * One metric's panel: its curves over the epochs (told apart by `encoding`, beside x and y), with
 * `over` layered on top.
 */
function curvePanel<E extends object, L>(points: CurvePoint[], metric: CurvePoint['metric'], encoding: E, over: L[]) {
  return {
    width: 300,
    height: 220,
    layer: [
      {
        data: { values: points.filter((p) => p.metric === metric) },
        mark: { type: 'line' as const, point: true },
        encoding: {
          x: { field: 'epoch', type: 'quantitative' as const, title: 'epoch', axis: { tickMinStep: 1, format: 'd' } },
          y: { field: 'value', type: 'quantitative' as const, title: metric, scale: { zero: false } },
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
export function learningCurvesOverlaySpec(runs: CurveRun[]): TopLevelSpec {
  const points = runs.flatMap((r) => curvePoints(r.history).map((p) => ({ ...p, run: r.label })));
  const color = { field: 'run', type: 'nominal' as const, title: null, scale: { domain: runs.map((r) => r.label), range: runs.map((r) => r.color) } };
  const split = {
    color,
    strokeDash: {
      field: 'split',
      type: 'nominal' as const,
      title: null,
      scale: { domain: ['train', 'validation'], range: [[1, 0], [5, 3]] },
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
  const panel = (metric: CurvePoint['metric']) => curvePanel(points, metric, split, [bestEpochs]);
  return {
    $schema: SCHEMA,
    title: `Learning curves, ${runs.map((r) => r.label).join(' vs ')}`,
    config: CONFIG,
    hconcat: [panel('loss'), panel('accuracy')],
  };
}
