/** Everything the diff says about two runs, as data (the HTML, summary.md and summary.json render it). */
import { BadInputError } from '../core/errors.js';
import { convLayers } from '../render/figures/kernels.js';
import type { NpyArray } from '../catalog/npy.js';
import { CLASS_NAMES } from '../catalog/schema.js';
import type { LoadedRun } from './load-run.js';
import { matchFilters, permuteAxis, type FilterMatch } from './match-filters.js';

/** +1 when a larger value is better, -1 when smaller is better, 0 when neither */
export type Better = 1 | -1 | 0;

export interface MetricDelta {
  a: number;
  b: number;
  delta: number;
  better: Better;
  /**
   * A wall-clock measurement (step and training times, throughput): it differs between any two
   * runs, even of the same seed with bit-identical weights, so it never counts as a model change.
   */
  timing: boolean;
}

export interface TensorDelta {
  name: string;
  shape: number[];
  identical: boolean;
  max_abs_delta: number;
  mean: MetricDelta;
  std: MetricDelta;
}

export interface LayerMatch extends FilterMatch {
  layer: string;
  /** B's input channels were put in this order (the previous conv layer's matching) before matching; null for none */
  in_perm: number[] | null;
  mean_similarity: number;
  min_similarity: number;
  /** true when the matching is the identity */
  identity: boolean;
}

export interface Comparison {
  a: string;
  b: string;
  params: { name: string; a: unknown; b: unknown }[];
  metrics: Record<string, MetricDelta>;
  per_class: { class_index: number; class_name: string; a: number; b: number; delta: number }[];
  /** confusion[true][pred] of B minus A */
  confusion_delta: number[][];
  weights: { identical: boolean; maxAbsDelta: number; tensors: TensorDelta[] };
  matches: LayerMatch[];
}

export interface Metric {
  value: number;
  better: Better;
  timing?: boolean;
}

const delta = (a: number, b: number, better: Better, timing = false): MetricDelta => ({ a, b, delta: b - a, better, timing });

/** The numbers a rule may test, by dotted name. */
export function metricsOf(run: LoadedRun): Record<string, Metric> {
  const { metrics: m, history: h, manifest } = run;
  const out: Record<string, Metric> = {
    'test.accuracy': { value: m.test.accuracy, better: 1 },
    'test.loss': { value: m.test.loss, better: -1 },
  };
  // An imported model has no validation figures and no training: those metrics are absent, and
  // a rule naming one fails as for any metric one of the runs lacks.
  if (m.val) {
    out['val.accuracy'] = { value: m.val.accuracy, better: 1 };
    out['val.loss'] = { value: m.val.loss, better: -1 };
  }
  if (m.best_epoch !== undefined) out.best_epoch = { value: m.best_epoch, better: 0 };
  if (m.epochs_run !== undefined) out.epochs_run = { value: m.epochs_run, better: 0 };
  if (h) {
    out['train.seconds'] = { value: h.rows.reduce((s, r) => s + r.seconds, 0), better: -1, timing: true };
    out['train.samples_per_s'] = { value: h.rows.reduce((s, r) => s + r.samples_per_s, 0) / Math.max(1, h.rows.length), better: 1, timing: true };
  }
  for (const [name, rec] of Object.entries(manifest.steps)) {
    if (typeof rec?.seconds === 'number') out[`steps.${name}.seconds`] = { value: rec.seconds, better: -1, timing: true };
  }
  for (const [layer, kinds] of Object.entries(run.stats.trained)) {
    for (const [kind, t] of Object.entries(kinds)) {
      out[`weights.${layer}.${kind}.mean`] = { value: t.mean, better: 0 };
      out[`weights.${layer}.${kind}.std`] = { value: t.std, better: 0 };
    }
  }
  return out;
}

/** Names of the metrics two runs both have (what --fail-on may use). */
export function commonMetrics(a: LoadedRun, b: LoadedRun): string[] {
  const mb = metricsOf(b);
  return Object.keys(metricsOf(a)).filter((k) => k in mb);
}

/** Bitwise equality (so -0 vs 0 and NaN payloads count as changes) and the largest |a - b|. */
function tensorDelta(name: string, a: NpyArray, b: NpyArray, sa: { mean: number; std: number }, sb: { mean: number; std: number }): TensorDelta {
  const ua = new Uint32Array(a.data.buffer, a.data.byteOffset, a.data.length);
  const ub = new Uint32Array(b.data.buffer, b.data.byteOffset, b.data.length);
  let identical = true;
  let max = 0;
  for (let i = 0; i < ua.length; i++) {
    if (ua[i] !== ub[i]) identical = false;
    const d = Math.abs(a.data[i] - b.data[i]);
    if (d > max || Number.isNaN(d)) max = d;
  }
  return { name, shape: a.shape, identical, max_abs_delta: max, mean: delta(sa.mean, sb.mean, 0), std: delta(sa.std, sb.std, 0) };
}

/** Both runs must hold the same tensors with the same shapes: the diff compares one architecture. */
function checkSameModel(a: LoadedRun, b: LoadedRun): void {
  const describe = (r: LoadedRun) => [...r.weights].map(([n, t]) => `${n}[${t.shape.join(',')}]`).join(' ');
  if (describe(a) !== describe(b)) {
    throw new BadInputError(
      `runs ${a.label} and ${b.label} hold different models (${describe(a)} vs ${describe(b)}): the diff compares two runs of the same architecture`,
    );
  }
}

/**
 * Matches B's conv filters to A's layer by layer. A layer's input channels are the previous conv
 * layer's filters (through pooling, which keeps channels), so B's previous matching is carried
 * into this layer's input axis before its filters are matched. `layers`: the conv layers in model
 * order (stats.json's keys are sorted, which is model order only for the book's names).
 */
export function matchConvLayers(a: LoadedRun, b: LoadedRun, layers: readonly string[] = convLayers(a.stats)): LayerMatch[] {
  const out: LayerMatch[] = [];
  let carried: number[] | null = null;
  for (const layer of layers) {
    const ka = a.weights.get(`${layer}/kernel`)!;
    const kb = b.weights.get(`${layer}/kernel`)!;
    const inPerm: number[] | null = carried && kb.shape[2] === carried.length ? carried : null;
    const m = matchFilters(ka.data, inPerm ? permuteAxis(kb.data, kb.shape, -2, inPerm) : kb.data, ka.shape);
    out.push({
      layer,
      ...m,
      in_perm: inPerm,
      mean_similarity: m.similarity.reduce((s, v) => s + v, 0) / m.similarity.length,
      min_similarity: Math.min(...m.similarity),
      identity: m.perm.every((j, i) => i === j) && (inPerm?.every((j, i) => i === j) ?? true),
    });
    carried = m.perm;
  }
  return out;
}

/** B's kernel of a matched layer in A's order: input channels by the carried matching, filters by the layer's own. */
export function alignedKernel(b: LoadedRun, match: LayerMatch): NpyArray {
  const k = b.weights.get(`${match.layer}/kernel`)!;
  const byInput = match.in_perm ? permuteAxis(k.data, k.shape, -2, match.in_perm) : k.data;
  return { data: permuteAxis(byInput, k.shape, -1, match.perm), shape: k.shape };
}

/** B's feature maps [1, H, W, C] of a matched layer, channels in A's filter order. */
export function alignedMaps(b: LoadedRun, match: LayerMatch): NpyArray {
  const t = b.maps.get(match.layer)!;
  return { data: permuteAxis(t.data, t.shape, -1, match.perm), shape: t.shape };
}

export function compareRuns(a: LoadedRun, b: LoadedRun, classNames: readonly string[] = CLASS_NAMES.en): Comparison {
  checkSameModel(a, b);
  const ma = metricsOf(a);
  const mb = metricsOf(b);
  const metrics: Record<string, MetricDelta> = {};
  for (const k of Object.keys(ma)) if (k in mb) metrics[k] = delta(ma[k].value, mb[k].value, ma[k].better, ma[k].timing);

  const pa = a.manifest.params as unknown as Record<string, unknown>;
  const pb = b.manifest.params as unknown as Record<string, unknown>;
  const params = [...new Set([...Object.keys(pa), ...Object.keys(pb), 'backend'])]
    .sort()
    // The backend asked for ("auto") matters less than the one the run took.
    .map((name) => (name === 'backend' ? { name, a: a.manifest.backend, b: b.manifest.backend } : { name, a: pa[name], b: pb[name] }))
    .filter((p) => JSON.stringify(p.a) !== JSON.stringify(p.b));

  const ca = a.metrics.confusion;
  const cb = b.metrics.confusion;
  const n = classNames.length;
  for (const [run, m] of [[a, a.metrics], [b, b.metrics]] as const) {
    if (m.per_class_accuracy?.length !== n || m.confusion?.length !== n || m.confusion.some((r) => r.length !== n)) {
      throw new BadInputError(`${run.store.metrics} has no ${n}-class per-class accuracy and ${n} x ${n} confusion matrix: run its checkpoint step again (add --force)`);
    }
  }
  const per_class = a.metrics.per_class_accuracy.map((acc, i) => ({
    class_index: i,
    class_name: classNames[i],
    a: acc,
    b: b.metrics.per_class_accuracy[i],
    delta: b.metrics.per_class_accuracy[i] - acc,
  }));
  const confusion_delta = ca.map((row, i) => row.map((v, j) => cb[i][j] - v));

  const tensors = [...a.weights].map(([name, ta]) => {
    const [layer, kind] = name.split('/') as [string, 'kernel' | 'bias'];
    return tensorDelta(name, ta, b.weights.get(name)!, a.stats.trained[layer][kind], b.stats.trained[layer][kind]);
  });

  return {
    a: a.label,
    b: b.label,
    params,
    metrics,
    per_class,
    confusion_delta,
    weights: {
      identical: tensors.every((t) => t.identical),
      maxAbsDelta: tensors.reduce((m, t) => Math.max(m, t.max_abs_delta), 0),
      tensors,
    },
    matches: matchConvLayers(a, b),
  };
}
