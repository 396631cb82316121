/**
 * The diff's figures, from two loaded runs and their comparison: data in, specs out. Kernels and
 * feature maps of B are shown in A's filter order (the matching of compare.ts), so that a pair
 * side by side is the same filter learnt twice, not filter i of two unrelated orderings.
 */
import { bookKernelPanels, kernelPairsSpec } from '../render/figures/kernels.js';
import { confusionDeltaSpec, perClassDeltaSpec } from '../render/figures/evaluation.js';
import { histogramOverlaySpec, type OverlayPanel } from '../render/figures/histograms.js';
import { learningCurvesOverlaySpec } from '../render/figures/learning-curves.js';
import { imageGridSpec, mapPanel, mapZoom } from '../render/figures/maps.js';
import type { FigureSpecOf } from '../render/figures/write-figure.js';
import { localeOf, type Locale } from '../render/locale.js';
import { histogram, sharedEdges } from '../ml/stats.js';
import { alignedKernel, alignedMaps, type Comparison } from './compare.js';
import type { LoadedRun } from './load-run.js';

export type DiffFigureKind = 'learning-curves' | 'weight-histograms' | 'kernel-pairs' | 'feature-maps' | 'per-class-delta' | 'confusion-delta';
export type DiffFigure = FigureSpecOf<DiffFigureKind>;

export const COLORS = { a: '#1f77b4', b: '#ff7f0e' } as const;

/** "A (quick-seed1)": short enough for a legend, long enough to tell the runs apart. */
export function runLabels(a: LoadedRun, b: LoadedRun): [string, string] {
  const short = (id: string) => (id.length > 24 ? `${id.slice(0, 23)}…` : id);
  return [`A (${short(a.store.runId)})`, `B (${short(b.store.runId)})`];
}

/** Every trained kernel of A and B re-binned on edges common to both (each run's stats.json bins are its own). */
function histogramFigure(a: LoadedRun, b: LoadedRun, labels: [string, string], loc: Locale): DiffFigure {
  const layers = Object.keys(a.stats.trained);
  const panels: OverlayPanel[] = layers.map((layer) => {
    const ka = a.weights.get(`${layer}/kernel`)!.data;
    const kb = b.weights.get(`${layer}/kernel`)!.data;
    const edges = sharedEdges(ka, kb);
    return {
      layer,
      title: loc.t('figures.histograms.panel', { layer }),
      series: [
        { label: labels[0], color: COLORS.a, histogram: { edges, counts: histogram(ka, edges) } },
        { label: labels[1], color: COLORS.b, histogram: { edges, counts: histogram(kb, edges) } },
      ],
    };
  });
  return {
    name: 'weight-histograms',
    kind: 'weight-histograms',
    title: loc.t('figures.diff.histograms_entry'),
    spec: histogramOverlaySpec(loc.t('figures.diff.histograms_title'), panels, 2, loc),
  };
}

function kernelFigures(a: LoadedRun, b: LoadedRun, c: Comparison, labels: [string, string], loc: Locale): DiffFigure[] {
  return c.matches.map((m) => {
    const ka = a.weights.get(`${m.layer}/kernel`)!;
    const kb = alignedKernel(b, m);
    const [kh, kw, cin, cout] = ka.shape;
    const similarity = loc.t('figures.diff.similarity', { s: m.mean_similarity.toFixed(3) });
    const { panels, domain, averaged } = bookKernelPanels(ka, kb, labels);
    return {
      name: `kernels-${m.layer}`,
      kind: 'kernel-pairs',
      layer: m.layer,
      title: averaged
        ? loc.t('figures.diff.pairs_mean_entry', { layer: m.layer, in_channels: cin, similarity })
        : loc.t('figures.diff.pairs_entry', { layer: m.layer, filters: cout, similarity }),
      spec: kernelPairsSpec(
        panels[0],
        panels[1],
        m.similarity,
        ['A', 'B'],
        {
          title: averaged
            ? loc.t('figures.diff.pairs_mean_title', { layer: m.layer, in_channels: cin })
            : loc.t('figures.diff.pairs_title', { layer: m.layer, h: kh, w: kw }),
          cols: 16,
          domain,
        },
        loc,
      ),
    };
  });
}

/** The chapter's sample through both runs' conv layers, B's maps in A's filter order. */
function mapFigures(a: LoadedRun, b: LoadedRun, c: Comparison, labels: [string, string], loc: Locale): DiffFigure[] {
  if (a.sample.id !== b.sample.id) return [];
  const image = a.sample.split === 'train' ? loc.t('figures.sample.train', { index: a.sample.index }) : loc.t('figures.sample.test', { index: a.sample.index });
  return c.matches.map((m) => {
    const ta = a.maps.get(m.layer)!;
    const [, h, w, ch] = ta.shape;
    const zoom = mapZoom(h);
    return {
      name: `maps-${m.layer}`,
      kind: 'feature-maps',
      layer: m.layer,
      sample: a.sample.id,
      title: loc.t('figures.diff.maps_entry', { layer: m.layer, image }),
      spec: imageGridSpec(loc.t('figures.diff.maps_title', { layer: m.layer, channels: ch, h, w, image }), [
        mapPanel(ta, labels[0], 8, zoom),
        mapPanel(alignedMaps(b, m), loc.t('figures.diff.matched', { label: labels[1] }), 8, zoom),
      ]),
    };
  });
}

export function buildDiffFigures(a: LoadedRun, b: LoadedRun, c: Comparison, classNames: readonly string[], loc: Locale = localeOf('en')): DiffFigure[] {
  const labels = runLabels(a, b);
  // A model imported with --model has no history: its curves are left out (none when neither has one).
  const curves = [
    { label: labels[0], color: COLORS.a, history: a.history },
    { label: labels[1], color: COLORS.b, history: b.history },
  ].flatMap(({ history, ...run }) => (history ? [{ ...run, history }] : []));
  const learning: DiffFigure[] =
    curves.length === 0
      ? []
      : [
          {
            name: 'learning-curves',
            kind: 'learning-curves',
            title: curves.length === 2 ? loc.t('figures.diff.curves_entry') : loc.t('figures.diff.curves_entry_one', { label: curves[0].label }),
            spec: learningCurvesOverlaySpec(curves, loc),
          },
        ];
  return [
    ...learning,
    histogramFigure(a, b, labels, loc),
    ...kernelFigures(a, b, c, labels, loc),
    ...mapFigures(a, b, c, labels, loc),
    {
      name: 'per-class-delta',
      kind: 'per-class-delta',
      title: loc.t('figures.diff.per_class_entry'),
      spec: perClassDeltaSpec(a.metrics.per_class_accuracy, b.metrics.per_class_accuracy, classNames, labels, loc),
    },
    {
      name: 'confusion-delta',
      kind: 'confusion-delta',
      title: loc.t('figures.diff.confusion_entry'),
      spec: confusionDeltaSpec(c.confusion_delta, classNames, labels, loc),
    },
  ];
}
