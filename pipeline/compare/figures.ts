/**
 * The compare page's figures, from the gathered runs and their analysis: data in, specs out.
 * Kernels and feature maps are in the reference run's filter order (the matching of stability.ts),
 * so filter i of the consensus, of the reference and of the typical run's maps is one filter.
 */
import { bookKernelPanels, kernelPairsSpec } from '../render/figures/kernels.js';
import { learningCurvesOverlaySpec } from '../render/figures/learning-curves.js';
import { imageGridSpec, mapPanel, mapZoom } from '../render/figures/maps.js';
import { seriesColor, stripSpec, type StripPanel } from '../render/figures/strip.js';
import type { FigureSpecOf } from '../render/figures/write-figure.js';
import type { Analysis } from './analyze.js';
import { DIFFERENCE_METRICS } from './groups.js';
import type { Gathered } from './gather.js';

export type CompareFigureKind = 'metrics' | 'per-class' | 'learning-curves' | 'kernel-similarity' | 'consensus-kernels' | 'feature-maps';
export type CompareFigure = FigureSpecOf<CompareFigureKind>;

/** A layer name as part of a figure's file name. */
export const figureSlug = (layer: string) => layer.replace(/[^\w-]/g, '_');

function metricsFigure(a: Analysis, groupNames: string[]): CompareFigure | null {
  const panels: StripPanel[] = DIFFERENCE_METRICS.filter((m) => a.runs.some((r) => m in r.metrics)).map((metric) => ({
    title: metric,
    axis: metric.endsWith('accuracy') ? 'accuracy' : 'loss',
    rows: groupNames,
    format: '.4~f',
    points: a.runs.filter((r) => metric in r.metrics).map((r) => ({ row: r.group, series: r.group, value: r.metrics[metric], label: r.id })),
  }));
  if (panels.length === 0) return null;
  return {
    name: 'metrics',
    kind: 'metrics',
    title: 'Accuracy and loss of every run, per group (tick: the group mean)',
    spec: stripSpec('Accuracy and loss of every run (dots), per group (tick: mean)', panels, groupNames),
  };
}

function perClassFigure(g: Gathered, a: Analysis, groupNames: string[], classNames: readonly string[]): CompareFigure {
  const group = new Map(a.runs.map((r) => [r.id, r.group]));
  const points = g.usable.flatMap((u) =>
    u.run.metrics.per_class_accuracy.map((value, i) => ({ row: classNames[i], series: group.get(u.id)!, value, label: u.id })),
  );
  return {
    name: 'per-class',
    kind: 'per-class',
    title: 'Test accuracy per class of every run (tick: the mean over all runs)',
    spec: stripSpec('Test accuracy per class, every run (tick: mean of all runs)', [{ title: 'per class', axis: 'accuracy', rows: [...classNames], points, format: '.0%' }], groupNames),
  };
}

function learningCurveFigures(g: Gathered, a: Analysis): CompareFigure[] {
  return a.groups.flatMap((group, gi) => {
    const curves = group.runs.flatMap((id, i) => {
      const run = g.usable.find((u) => u.id === id)!.run;
      return run.history ? [{ label: id, color: seriesColor(i), history: run.history }] : [];
    });
    if (curves.length === 0) return [];
    const spec = learningCurvesOverlaySpec(curves);
    return [
      {
        name: `learning-curves-${gi + 1}`,
        kind: 'learning-curves' as const,
        title: `Learning curves of ${group.name} (${curves.length} trained run${curves.length === 1 ? '' : 's'})`,
        spec: { ...spec, title: `Learning curves, ${group.name}` },
      },
    ];
  });
}

function similarityFigure(a: Analysis, groupNames: string[]): CompareFigure | null {
  const others = a.runs.filter((r) => !r.reference);
  const layers = a.stability.layers.filter((l) => l.matches.length > 0);
  if (layers.length === 0 || others.length === 0) return null;
  const group = new Map(a.runs.map((r) => [r.id, r.group]));
  const panels: StripPanel[] = layers.map((l) => ({
    title: `${l.layer} (${l.shape[l.shape.length - 1]} filters)`,
    axis: 'cosine similarity to the reference',
    rows: others.map((r) => r.id),
    domain: [Math.min(0, ...l.matches.flatMap((m) => m.match.similarity)), 1],
    format: '.1f',
    points: l.matches.flatMap((m) => m.match.similarity.map((value, k) => ({ row: m.id, series: group.get(m.id)!, value, label: `filter ${k}` }))),
  }));
  return {
    name: 'kernel-similarity',
    kind: 'kernel-similarity',
    title: `Matched cosine similarity of every filter to the reference ${a.reference}'s, per run (tick: the run's mean)`,
    spec: stripSpec(`Filters matched to the reference ${a.reference}: cosine similarity (dots: filters, tick: mean)`, panels, groupNames),
  };
}

function consensusFigures(g: Gathered, a: Analysis): CompareFigure[] {
  return a.stability.layers.map((l) => {
    const ref = g.reference.run.weights.get(`${l.layer}/kernel`)!;
    const [kh, kw, cin, cout] = l.shape;
    const { panels, domain, averaged } = bookKernelPanels(l.consensus, ref, ['consensus', `reference ${a.reference}`]);
    const n = a.runs.length;
    return {
      name: `consensus-${figureSlug(l.layer)}`,
      kind: 'consensus-kernels',
      layer: l.layer,
      title: averaged
        ? `${l.layer}: per filter, the mean over its ${cin} input channels, consensus of ${n} runs (C) above the reference (R), with the agreement`
        : `${l.layer}: the ${cout} consensus kernels of ${n} runs (C) above the reference's (R), with the agreement`,
      spec: kernelPairsSpec(panels[0], panels[1], l.agreement, ['C', 'R'], {
        title: averaged
          ? `${l.layer} consensus kernels (mean over ${cin} inputs) of ${n} runs; number: agreement`
          : `${l.layer} consensus kernels (${kh} × ${kw}) of ${n} runs; number: agreement`,
        cols: 16,
        domain,
      }),
    };
  });
}

function mapFigures(g: Gathered, a: Analysis): CompareFigure[] {
  const typical = g.usable.find((u) => u.id === a.typical)!.run;
  const s = typical.sample;
  return a.stability.typicalMaps.map(({ layer, maps }) => {
    const [, h, w, ch] = maps.shape;
    return {
      name: `maps-${figureSlug(layer)}`,
      kind: 'feature-maps',
      layer,
      sample: s.id,
      title: `${layer} feature maps of ${s.split} image #${s.index} in the typical run ${a.typical}, in the consensus's filter order`,
      spec: imageGridSpec(`${layer}: ${ch} maps of ${h} × ${w} of ${s.split} image #${s.index}, typical run ${a.typical}, matched order`, [
        mapPanel(maps, `typical run ${a.typical}`, 8, mapZoom(h)),
      ]),
    };
  });
}

export function buildCompareFigures(g: Gathered, a: Analysis, classNames: readonly string[]): CompareFigure[] {
  const groupNames = a.groups.map((gr) => gr.name);
  return [
    metricsFigure(a, groupNames),
    perClassFigure(g, a, groupNames, classNames),
    ...learningCurveFigures(g, a),
    similarityFigure(a, groupNames),
    ...consensusFigures(g, a),
    ...mapFigures(g, a),
  ].filter((f): f is CompareFigure => f !== null);
}
