/**
 * The diff's figures, from two loaded runs and their comparison: data in, specs out. Kernels and
 * feature maps of B are shown in A's filter order (the matching of compare.ts), so that a pair
 * side by side is the same filter learnt twice, not filter i of two unrelated orderings.
 */
import { inputChannelSlice, KERNEL_DOMAIN, kernelPairsSpec, meanOverInputs, symmetricLimit } from '../render/figures/kernels.js';
import { confusionDeltaSpec, perClassDeltaSpec } from '../render/figures/evaluation.js';
import { histogramOverlaySpec, type OverlayPanel } from '../render/figures/histograms.js';
import { learningCurvesOverlaySpec } from '../render/figures/learning-curves.js';
import { imageGridSpec, mapPanel, mapZoom } from '../render/figures/maps.js';
import type { FigureSpecOf } from '../render/figures/write-figure.js';
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
function histogramFigure(a: LoadedRun, b: LoadedRun, labels: [string, string]): DiffFigure {
  const layers = Object.keys(a.stats.trained);
  const panels: OverlayPanel[] = layers.map((layer) => {
    const ka = a.weights.get(`${layer}/kernel`)!.data;
    const kb = b.weights.get(`${layer}/kernel`)!.data;
    const edges = sharedEdges(ka, kb);
    return {
      layer,
      title: `${layer} kernel`,
      series: [
        { label: labels[0], color: COLORS.a, histogram: { edges, counts: histogram(ka, edges) } },
        { label: labels[1], color: COLORS.b, histogram: { edges, counts: histogram(kb, edges) } },
      ],
    };
  });
  return {
    name: 'weight-histograms',
    kind: 'weight-histograms',
    title: 'Trained kernel weights of A and B on the same bins',
    spec: histogramOverlaySpec('Trained kernel weights, A over B (same bins per layer)', panels, 2),
  };
}

function kernelFigures(a: LoadedRun, b: LoadedRun, c: Comparison, labels: [string, string]): DiffFigure[] {
  return c.matches.map((m) => {
    const ka = a.weights.get(`${m.layer}/kernel`)!;
    const kb = alignedKernel(b, m);
    const [kh, kw, cin, cout] = ka.shape;
    const sim = `mean similarity ${m.mean_similarity.toFixed(3)}`;
    const rows: [string, string] = ['A', 'B'];
    if (cin === 1) {
      return {
        name: `kernels-${m.layer}`,
        kind: 'kernel-pairs',
        layer: m.layer,
        title: `${m.layer}: A's ${cout} kernels above B's matched kernels, ${sim}`,
        spec: kernelPairsSpec(inputChannelSlice(ka, 0, labels[0]), inputChannelSlice(kb, 0, labels[1]), m.similarity, rows, {
          title: `${m.layer} kernels (${kh} × ${kw}): matched pairs, cosine similarity`,
          cols: 16,
          domain: KERNEL_DOMAIN,
        }),
      };
    }
    const pa = meanOverInputs(ka, labels[0]);
    const pb = meanOverInputs(kb, labels[1]);
    const limit = symmetricLimit([pa, pb]);
    return {
      name: `kernels-${m.layer}`,
      kind: 'kernel-pairs',
      layer: m.layer,
      title: `${m.layer}: per filter, the mean over its ${cin} input channels, A above B's matched filter, ${sim}`,
      spec: kernelPairsSpec(pa, pb, m.similarity, rows, {
        title: `${m.layer} kernels (mean over ${cin} inputs): matched pairs, cosine similarity`,
        cols: 16,
        domain: [-limit, limit],
      }),
    };
  });
}

/** The chapter's sample through both runs' conv layers, B's maps in A's filter order. */
function mapFigures(a: LoadedRun, b: LoadedRun, c: Comparison, labels: [string, string]): DiffFigure[] {
  if (a.sample.id !== b.sample.id) return [];
  return c.matches.map((m) => {
    const ta = a.maps.get(m.layer)!;
    const [, h, w, ch] = ta.shape;
    const zoom = mapZoom(h);
    return {
      name: `maps-${m.layer}`,
      kind: 'feature-maps',
      layer: m.layer,
      sample: a.sample.id,
      title: `${m.layer} feature maps of ${a.sample.split} image #${a.sample.index}, A beside B in matched order`,
      spec: imageGridSpec(`${m.layer}: ${ch} maps of ${h} × ${w} of ${a.sample.split} image #${a.sample.index}, B in A's filter order`, [
        mapPanel(ta, labels[0], 8, zoom),
        mapPanel(alignedMaps(b, m), `${labels[1]}, matched`, 8, zoom),
      ]),
    };
  });
}

export function buildDiffFigures(a: LoadedRun, b: LoadedRun, c: Comparison, classNames: readonly string[]): DiffFigure[] {
  const labels = runLabels(a, b);
  // A model imported with --model has no history: its curves are left out (none when neither has one).
  const curves = [
    { label: labels[0], color: COLORS.a, history: a.history },
    { label: labels[1], color: COLORS.b, history: b.history },
  ].flatMap(({ history, ...run }) => (history ? [{ ...run, history }] : []));
  const learning: DiffFigure[] =
    curves.length === 0
      ? []
      : [{ name: 'learning-curves', kind: 'learning-curves', title: curves.length === 2 ? 'Learning curves of A and B' : `Learning curves of ${curves[0].label}`, spec: learningCurvesOverlaySpec(curves) }];
  return [
    ...learning,
    histogramFigure(a, b, labels),
    ...kernelFigures(a, b, c, labels),
    ...mapFigures(a, b, c, labels),
    {
      name: 'per-class-delta',
      kind: 'per-class-delta',
      title: 'Test accuracy per class, B minus A',
      spec: perClassDeltaSpec(a.metrics.per_class_accuracy, b.metrics.per_class_accuracy, classNames, labels),
    },
    {
      name: 'confusion-delta',
      kind: 'confusion-delta',
      title: 'Test confusion matrix, B minus A',
      spec: confusionDeltaSpec(c.confusion_delta, classNames, labels),
    },
  ];
}
