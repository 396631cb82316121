/**
 * When two runs are the same network: the same layer classes in the same order and the same
 * weight shapes position by position. Names may differ (a Keras file names its layers its own
 * way), so a usable run's tensors are re-keyed by the reference's layer names.
 */
import type { ModelSummary } from '../catalog/model-summary.js';
import type { LoadedRun } from '../diff/load-run.js';

export interface Architecture {
  /** every layer but the input, in model order */
  layers: { name: string; type: string }[];
  /** the layers with weights, in model order, with their tensors' shapes */
  weighted: { name: string; kernel: number[]; bias: number[] }[];
}

export function architectureOf(run: LoadedRun, summary: ModelSummary): Architecture {
  // A functional model lists its InputLayer, a Sequential one may not: either way it holds no weights.
  const layers = summary.layers.filter((l) => l.type !== 'InputLayer').map((l) => ({ name: l.name, type: l.type }));
  const weighted = layers
    .filter((l) => l.name in run.stats.trained)
    .map((l) => ({ name: l.name, kernel: run.stats.trained[l.name].kernel.shape, bias: run.stats.trained[l.name].bias.shape }));
  return { layers, weighted };
}

const shape = (s: number[]) => `[${s.join(', ')}]`;
const types = (a: Architecture) => a.layers.map((l) => l.type).join(', ');

/** Why `arch` is not the reference's network, or null when it is. */
export function mismatch(arch: Architecture, ref: Architecture, refId: string): string | null {
  if (arch.layers.length !== ref.layers.length) {
    return `its model has ${arch.layers.length} layers (${types(arch)}) where the reference ${refId} has ${ref.layers.length} (${types(ref)})`;
  }
  for (const [i, l] of arch.layers.entries()) {
    const r = ref.layers[i];
    if (l.type !== r.type) return `its layer ${i + 1} (${l.name}) is a ${l.type} where the reference ${refId}'s (${r.name}) is a ${r.type}`;
  }
  if (arch.weighted.length !== ref.weighted.length) {
    return `weights/stats.json lists ${arch.weighted.length} layers with weights where the reference ${refId} has ${ref.weighted.length}`;
  }
  for (const [i, w] of arch.weighted.entries()) {
    const r = ref.weighted[i];
    for (const kind of ['kernel', 'bias'] as const) {
      if (w[kind].join() !== r[kind].join()) {
        return `its ${w.name} ${kind} has shape ${shape(w[kind])} where the reference ${refId}'s (${r.name}) has ${shape(r[kind])}`;
      }
    }
  }
  return null;
}

/** The run with its tensors, statistics and maps keyed by the reference's layer names. */
export function renameToReference(run: LoadedRun, arch: Architecture, ref: Architecture): LoadedRun {
  const rename = new Map(arch.weighted.map((w, i) => [w.name, ref.weighted[i].name]));
  if ([...rename].every(([from, to]) => from === to)) return run;
  const to = (layer: string) => rename.get(layer) ?? layer;
  return {
    ...run,
    weights: new Map(
      [...run.weights].map(([key, t]) => {
        const [layer, kind] = key.split('/');
        return [`${to(layer)}/${kind}`, t];
      }),
    ),
    maps: new Map([...run.maps].map(([layer, t]) => [to(layer), t])),
    stats: { ...run.stats, trained: Object.fromEntries(Object.entries(run.stats.trained).map(([layer, t]) => [to(layer), t])) },
  };
}

/** The conv layers (4-D kernels) of an architecture, in model order. */
export function convLayersInOrder(arch: Architecture): string[] {
  return arch.weighted.filter((w) => w.kernel.length === 4).map((w) => w.name);
}
