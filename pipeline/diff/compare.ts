/** Everything the diff says about two runs, as data (the HTML, summary.md and summary.json render it). */
import type { LoadedRun } from './load-run.js';
import { matchFilters, permuteAxis, type FilterMatch } from './match-filters.js';

export interface MetricDelta {
  a: number;
  b: number;
  delta: number;
  /** +1 when a larger value is better, -1 when smaller is better, 0 when neither */
  better: 1 | -1 | 0;
}

export interface TensorDelta {
  name: string;
  identical: boolean;
  max_abs_delta: number;
  mean: MetricDelta;
  std: MetricDelta;
}

export interface LayerMatch extends FilterMatch {
  layer: string;
  mean_similarity: number;
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

const delta = (a: number, b: number, better: 1 | -1 | 0): MetricDelta => ({ a, b, delta: b - a, better });

/** The numbers a rule may test, by dotted name. */
function metricsOf(run: LoadedRun): Record<string, [number, 1 | -1 | 0]> {
  const { metrics: m, history: h, manifest } = run;
  const out: Record<string, [number, 1 | -1 | 0]> = {
    'test.accuracy': [m.test.accuracy, 1],
    'test.loss': [m.test.loss, -1],
    'val.accuracy': [m.val.accuracy, 1],
    'val.loss': [m.val.loss, -1],
    best_epoch: [m.best_epoch, 0],
    epochs_run: [m.epochs_run, 0],
    'train.seconds': [h.rows.reduce((s, r) => s + r.seconds, 0), -1],
    'train.samples_per_s': [h.rows.reduce((s, r) => s + r.samples_per_s, 0) / Math.max(1, h.rows.length), 1],
  };
  for (const [name, rec] of Object.entries(manifest.steps)) {
    if (typeof rec?.seconds === 'number') out[`steps.${name}.seconds`] = [rec.seconds, -1];
  }
  for (const [layer, kinds] of Object.entries(run.stats.trained)) {
    for (const [kind, t] of Object.entries(kinds)) {
      out[`weights.${layer}.${kind}.mean`] = [t.mean, 0];
      out[`weights.${layer}.${kind}.std`] = [t.std, 0];
    }
  }
  return out;
}

/** Names of the metrics two runs both have (what --fail-on may use). */
export function commonMetrics(a: LoadedRun, b: LoadedRun): string[] {
  const mb = metricsOf(b);
  return Object.keys(metricsOf(a)).filter((k) => k in mb);
}

function tensorDelta(name: string, a: Float32Array, b: Float32Array, sa: { mean: number; std: number }, sb: { mean: number; std: number }): TensorDelta {
  let identical = a.length === b.length;
  let max = a.length === b.length ? 0 : Infinity;
  if (a.length === b.length) {
    const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
    const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
    for (let i = 0; i < a.length; i++) {
      if (ua[i] !== ub[i]) identical = false;
      const d = Math.abs(a[i] - b[i]);
      if (d > max) max = d;
    }
  }
  return { name, identical, max_abs_delta: max, mean: delta(sa.mean, sb.mean, 0), std: delta(sa.std, sb.std, 0) };
}

/**
 * Matches B's conv filters to A's layer by layer. The first layer's matching is carried into the
 * second layer's input channels before that layer is matched, since those channels are the first
 * layer's filters.
 */
function matchConvLayers(a: LoadedRun, b: LoadedRun): LayerMatch[] {
  const out: LayerMatch[] = [];
  let carried: number[] | null = null;
  for (const layer of ['conv2d', 'conv2d_1']) {
    const ka = a.weights.get(`${layer}/kernel`);
    const kb = b.weights.get(`${layer}/kernel`);
    if (!ka || !kb || ka.data.length !== kb.data.length) break;
    const bData: Float32Array = carried && kb.shape[2] === carried.length ? permuteAxis(kb.data, kb.shape, -2, carried) : kb.data;
    const m = matchFilters(ka.data, bData, ka.shape);
    out.push({
      layer,
      ...m,
      mean_similarity: m.similarity.reduce((s, v) => s + v, 0) / m.similarity.length,
      identity: m.perm.every((j, i) => i === j),
    });
    carried = m.perm;
  }
  return out;
}

export function compareRuns(a: LoadedRun, b: LoadedRun): Comparison {
  const ma = metricsOf(a);
  const mb = metricsOf(b);
  const metrics: Record<string, MetricDelta> = {};
  for (const k of Object.keys(ma)) if (k in mb) metrics[k] = delta(ma[k][0], mb[k][0], ma[k][1]);

  const pa = a.manifest.params as unknown as Record<string, unknown>;
  const pb = b.manifest.params as unknown as Record<string, unknown>;
  const params = [...new Set([...Object.keys(pa), ...Object.keys(pb), 'backend'])]
    .sort()
    .map((name) => (name === 'backend' ? { name, a: a.manifest.backend, b: b.manifest.backend } : { name, a: pa[name], b: pb[name] }))
    .filter((p) => JSON.stringify(p.a) !== JSON.stringify(p.b));

  const per_class = a.metrics.per_class_accuracy.map((acc, i) => ({
    class_index: i,
    class_name: a.features.samples.find((s) => s.label === i)?.class_name ?? String(i),
    a: acc,
    b: b.metrics.per_class_accuracy[i],
    delta: b.metrics.per_class_accuracy[i] - acc,
  }));
  const confusion_delta = a.metrics.confusion.map((row, i) => row.map((v, j) => b.metrics.confusion[i][j] - v));

  const tensors: TensorDelta[] = [];
  for (const [name, ta] of a.weights) {
    const tb = b.weights.get(name);
    const [layer, kind] = name.split('/') as [string, 'kernel' | 'bias'];
    if (!tb) {
      tensors.push({ name, identical: false, max_abs_delta: Infinity, mean: delta(a.stats.trained[layer][kind].mean, NaN, 0), std: delta(a.stats.trained[layer][kind].std, NaN, 0) });
      continue;
    }
    tensors.push(tensorDelta(name, ta.data, tb.data, a.stats.trained[layer][kind], b.stats.trained[layer][kind]));
  }
  for (const name of b.weights.keys()) if (!a.weights.has(name)) tensors.push({ name, identical: false, max_abs_delta: Infinity, mean: delta(NaN, NaN, 0), std: delta(NaN, NaN, 0) });

  return {
    a: a.label,
    b: b.label,
    params,
    metrics,
    per_class,
    confusion_delta,
    weights: {
      identical: tensors.length > 0 && tensors.every((t) => t.identical),
      maxAbsDelta: tensors.reduce((m, t) => Math.max(m, t.max_abs_delta), 0),
      tensors,
    },
    matches: matchConvLayers(a, b),
  };
}
