/**
 * Two independently trained runs learn their filters in an arbitrary order: filter i of A has
 * nothing to do with filter i of B. Before comparing kernels, match B's filters to A's by an
 * optimal assignment (Hungarian, via munkres) on the cosine similarity of the kernels.
 */
import { munkres } from 'munkres';

export interface FilterMatch {
  /** perm[i] = the filter of B matched to filter i of A */
  perm: number[];
  /** cosine similarity of each matched pair, in A's order */
  similarity: number[];
}

/** Filter k of a kernel laid out [..., out] (tfjs order: last axis = output filters), flattened. */
export function filters(data: Float32Array, shape: number[]): Float64Array[] {
  const out = shape[shape.length - 1];
  const size = data.length / out;
  return Array.from({ length: out }, (_, k) => {
    const v = new Float64Array(size);
    for (let j = 0; j < size; j++) v[j] = data[j * out + k];
    return v;
  });
}

export function cosine(a: Float64Array, b: Float64Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  if (na === 0 || nb === 0) return na === nb ? 1 : 0;
  return dot / Math.sqrt(na * nb);
}

/** Optimal one-to-one matching of B's filters to A's, maximizing total cosine similarity. */
export function matchFilters(a: Float32Array, b: Float32Array, shape: number[]): FilterMatch {
  if (a.length !== b.length) throw new Error(`kernels of different sizes (${a.length} vs ${b.length}) cannot be matched`);
  const fa = filters(a, shape);
  const fb = filters(b, shape);
  const sim = fa.map((x) => fb.map((y) => cosine(x, y)));
  const pairs = munkres(sim.map((row) => row.map((s) => 1 - s)));
  const perm = new Array<number>(fa.length).fill(-1);
  for (const [i, j] of pairs) perm[i] = j;
  return { perm, similarity: perm.map((j, i) => sim[i][j]) };
}

/**
 * Reorders a kernel [..., in, out] along `axis` (in: -2, out: -1) by `perm`, so that position i
 * holds what was at perm[i]. Used to put B's filters in A's order, and to carry the first layer's
 * matching into the second layer's input channels.
 */
export function permuteAxis(data: Float32Array, shape: number[], axis: -1 | -2, perm: number[]): Float32Array {
  const out = shape[shape.length - 1];
  const inn = shape[shape.length - 2];
  const outer = data.length / (out * inn);
  const result = new Float32Array(data.length);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inn; i++) {
      for (let k = 0; k < out; k++) {
        const src = axis === -1 ? (o * inn + i) * out + perm[k] : (o * inn + perm[i]) * out + k;
        result[(o * inn + i) * out + k] = data[src];
      }
    }
  }
  return result;
}
