/**
 * Weight histograms, one panel per layer, several series overlaid on the same bins: trained over
 * untrained in a run's report, run A over run B in the diff.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { TensorStats } from '../../catalog/schema.js';
import { localeOf, type Locale } from '../locale.js';
import { CONFIG, roundSignificant, SCHEMA } from './common.js';

export interface HistogramPanel {
  layer: string;
  trained: TensorStats['histogram'];
  untrained: TensorStats['histogram'];
  /** the untrained kernel's Glorot-uniform limit, drawn as dashed rules at +-limit */
  glorotLimit?: number;
}

/** One histogram of a panel; every series of a panel must share its bin edges. */
export interface HistogramSeries {
  label: string;
  color: string;
  histogram: TensorStats['histogram'];
}

export interface OverlayPanel {
  layer: string;
  title: string;
  series: HistogramSeries[];
  /** dashed rules at these weights, in `ruleColor` */
  rules?: number[];
  ruleColor?: string;
}

export interface HistogramBar {
  layer: string;
  /** the series' label */
  model: string;
  lo: number;
  hi: number;
  count: number;
}

export function histogramBars(p: Pick<OverlayPanel, 'layer' | 'series'>): HistogramBar[] {
  return p.series.flatMap((s) =>
    s.histogram.counts.map((count, b) => ({ layer: p.layer, model: s.label, lo: roundSignificant(s.histogram.edges[b]), hi: roundSignificant(s.histogram.edges[b + 1]), count })),
  );
}

function panelSpec(p: OverlayPanel, loc: Locale) {
  return {
    title: { text: p.title, fontSize: 12 },
    width: 300,
    height: 200,
    layer: [
      {
        data: { values: histogramBars(p) },
        mark: { type: 'rect' as const, opacity: 0.6 },
        encoding: {
          x: { field: 'lo', type: 'quantitative' as const, title: loc.t('figures.weight') },
          x2: { field: 'hi' },
          y: { field: 'count', type: 'quantitative' as const, title: loc.t('figures.count'), stack: null },
          color: {
            field: 'model',
            type: 'nominal' as const,
            title: null,
            scale: { domain: p.series.map((s) => s.label), range: p.series.map((s) => s.color) },
          },
        },
      },
      ...(p.rules === undefined || p.rules.length === 0
        ? []
        : [
            {
              data: { values: p.rules.map((limit) => ({ limit: roundSignificant(limit) })) },
              mark: { type: 'rule' as const, strokeDash: [4, 3], color: p.ruleColor ?? '#555' },
              encoding: { x: { field: 'limit', type: 'quantitative' as const } },
            },
          ]),
    ],
  };
}

/** Panels side by side, or wrapped into rows of `columns` panels. */
export function histogramOverlaySpec(title: string, panels: OverlayPanel[], columns?: number, loc: Locale = localeOf('en')): TopLevelSpec {
  const specs = panels.map((p) => panelSpec(p, loc));
  const base = { $schema: SCHEMA, title, config: CONFIG };
  return columns === undefined ? { ...base, hconcat: specs } : { ...base, columns, concat: specs };
}

export function weightHistogramSpec(panels: HistogramPanel[], loc: Locale = localeOf('en')): TopLevelSpec {
  return histogramOverlaySpec(
    loc.t('figures.histograms.title'),
    panels.map((p) => ({
      layer: p.layer,
      title: loc.t('figures.histograms.panel', { layer: p.layer }),
      series: [
        { label: loc.t('figures.trained'), color: '#1f77b4', histogram: p.trained },
        { label: loc.t('figures.untrained'), color: '#d62728', histogram: p.untrained },
      ],
      rules: p.glorotLimit === undefined ? undefined : [-p.glorotLimit, p.glorotLimit],
      ruleColor: '#d62728',
    })),
    undefined,
    loc,
  );
}
