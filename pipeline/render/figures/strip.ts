/**
 * Strip plots: every value as a dot on its row (a group, a class, a run), coloured by its series,
 * with a tick at each row's mean. With a handful of runs per group a box plot hides more than it
 * shows; the dots are the data.
 */
import type { TopLevelSpec } from 'vega-lite';
import { CONFIG, roundSignificant, SCHEMA } from './common.js';

/** The colours of the series, in order (tableau10): the same series keeps its colour in every figure. */
export const SERIES_COLORS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

export const seriesColor = (i: number) => SERIES_COLORS[i % SERIES_COLORS.length];

export interface StripPoint {
  row: string;
  series: string;
  value: number;
  /** what the dot is: a run id, a filter */
  label: string;
}

export interface StripPanel {
  title: string;
  /** the x axis's title */
  axis: string;
  points: StripPoint[];
  /** rows top to bottom */
  rows: string[];
  /** the x axis's range; default: the data's, not forced to include 0 */
  domain?: [number, number];
  format?: string;
}

function mean(values: number[]): number {
  return values.reduce((s, v) => s + v, 0) / values.length;
}

function panelSpec(p: StripPanel, series: string[]) {
  const y = { field: 'row', type: 'nominal' as const, title: null, sort: p.rows, axis: { labelLimit: 160 } };
  const x = { field: 'value', type: 'quantitative' as const, title: p.axis, scale: p.domain ? { domain: p.domain } : { zero: false }, axis: { format: p.format ?? '.3~f' } };
  const means = p.rows.flatMap((row) => {
    const vs = p.points.filter((q) => q.row === row).map((q) => q.value);
    return vs.length > 0 ? [{ row, value: roundSignificant(mean(vs)) }] : [];
  });
  return {
    title: { text: p.title, fontSize: 12 },
    width: 260,
    height: { step: 26 },
    layer: [
      {
        data: { values: p.points.map((q) => ({ ...q, value: roundSignificant(q.value) })) },
        mark: { type: 'point' as const, filled: true, size: 40, opacity: 0.75 },
        encoding: {
          x,
          y,
          color: { field: 'series', type: 'nominal' as const, title: null, scale: { domain: series, range: series.map((_, i) => seriesColor(i)) } },
        },
      },
      {
        data: { values: means },
        mark: { type: 'tick' as const, color: '#222', thickness: 2, size: 20 },
        encoding: { x: { field: 'value', type: 'quantitative' as const }, y },
      },
    ],
  };
}

/** Panels in rows of `columns`, one colour legend for the series. */
export function stripSpec(title: string, panels: StripPanel[], series: string[], columns = 2): TopLevelSpec {
  return { $schema: SCHEMA, title, config: CONFIG, columns, concat: panels.map((p) => panelSpec(p, series)), resolve: { scale: { color: 'shared' } } };
}
