/**
 * Kernel stability: which filters the architecture learns every time. Every run's conv filters are
 * matched to the reference run's (Hungarian on cosine similarity, each layer's matching carried
 * into the next conv layer's input channels, as the diff does); the matched kernels averaged over
 * all runs are the consensus, and each filter's agreement is how close the runs' matched filters
 * are to it. The typical run is the one whose matched kernels are closest to the consensus.
 */
import type { NpyArray } from '../catalog/npy.js';
import { alignedKernel, alignedMaps, matchConvLayers, type LayerMatch } from '../diff/compare.js';
import { cosine, filters } from '../diff/match-filters.js';
import { spread, type Spread } from './groups.js';
import type { UsableRun } from './gather.js';

export interface LayerStability {
  layer: string;
  /** kernel shape [kh, kw, in, out] */
  shape: number[];
  /** per run but the reference: its matching to the reference */
  matches: { id: string; match: LayerMatch }[];
  /** the matched cosine similarities of every run but the reference, every filter */
  similarity: Spread | null;
  /** the matched kernels of every run (the reference's included), averaged, in the reference's filter order */
  consensus: NpyArray;
  /** per filter: the mean cosine similarity of the runs' matched filters to the consensus filter */
  agreement: number[];
}

export interface Stability {
  layers: LayerStability[];
  /** per run: the mean cosine similarity of its matched filters (every conv layer) to the consensus */
  closeness: { id: string; value: number }[];
  /** the run closest to the consensus (the first such in the order given) */
  typical: string;
  /** the typical run's feature maps of the chapter sample, per conv layer, channels in the reference's filter order */
  typicalMaps: { layer: string; maps: NpyArray }[];
}

function mean(arrays: Float32Array[]): Float32Array {
  const sum = new Float64Array(arrays[0].length);
  for (const a of arrays) for (let i = 0; i < a.length; i++) sum[i] += a[i];
  return Float32Array.from(sum, (v) => v / arrays.length);
}

/** Per filter, the cosine similarity of two kernels of the same shape, filter i with filter i. */
function filterwiseCosine(a: NpyArray, b: NpyArray): number[] {
  const fb = filters(b.data, b.shape);
  return filters(a.data, a.shape).map((f, k) => cosine(f, fb[k]));
}

export function kernelStability(runs: UsableRun[], convLayers: string[]): Stability {
  const [ref] = runs;
  // The reference matched to itself is the identity: its kernels enter the consensus unchanged.
  const matched = runs.map((r) => ({ id: r.id, run: r.run, matches: matchConvLayers(ref.run, r.run, convLayers) }));
  const closenessSum = new Map(runs.map((r) => [r.id, { sum: 0, n: 0 }]));
  const layers = convLayers.map((layer, li): LayerStability => {
    const aligned = matched.map((m) => ({ id: m.id, kernel: alignedKernel(m.run, m.matches[li]) }));
    const shape = aligned[0].kernel.shape;
    const consensus = { data: mean(aligned.map((a) => a.kernel.data)), shape };
    const perRun = aligned.map((a) => ({ id: a.id, cos: filterwiseCosine(a.kernel, consensus) }));
    for (const { id, cos } of perRun) {
      const c = closenessSum.get(id)!;
      c.sum += cos.reduce((s, v) => s + v, 0);
      c.n += cos.length;
    }
    const filterCount = shape[shape.length - 1];
    const agreement = Array.from({ length: filterCount }, (_, k) => perRun.reduce((s, r) => s + r.cos[k], 0) / perRun.length);
    const others = matched.slice(1).map((m) => ({ id: m.id, match: m.matches[li] }));
    const all = others.flatMap((o) => o.match.similarity);
    return { layer, shape, matches: others, similarity: all.length > 0 ? spread(all) : null, consensus, agreement };
  });
  const closeness = runs.map((r) => {
    const c = closenessSum.get(r.id)!;
    return { id: r.id, value: c.n > 0 ? c.sum / c.n : 1 };
  });
  const best = closeness.reduce((b, c) => (c.value > b.value ? c : b), closeness[0]);
  const typical = matched.find((m) => m.id === best.id)!;
  const typicalMaps = convLayers.flatMap((layer, li) => (typical.run.maps.has(layer) ? [{ layer, maps: alignedMaps(typical.run, typical.matches[li]) }] : []));
  return { layers, closeness, typical: best.id, typicalMaps };
}
