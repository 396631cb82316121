/**
 * Descriptive statistics of a tensor's values, with numpy's conventions so that a Python user
 * who `numpy.load`s the same .npy gets the same numbers: population std (ddof 0), percentiles by
 * linear interpolation (numpy's default method), histogram bins closed on the left except the
 * last, which also holds its right edge. Sums run in float64.
 */

export interface Summary {
  count: number;
  mean: number;
  std: number;
  min: number;
  max: number;
}

export function summarize(values: ArrayLike<number>): Summary {
  const n = values.length;
  if (n === 0) return { count: 0, mean: NaN, std: NaN, min: NaN, max: NaN };
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    sum += v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const mean = sum / n;
  // Two passes: the sum of squared deviations does not cancel catastrophically like E[x²]-E[x]².
  let sq = 0;
  for (let i = 0; i < n; i++) sq += (values[i] - mean) ** 2;
  return { count: n, mean, std: Math.sqrt(sq / n), min, max };
}

/** numpy.percentile(values, ps) with the default 'linear' method. */
export function percentiles(values: ArrayLike<number>, ps: number[]): number[] {
  const sorted = Float64Array.from(values).sort();
  const n = sorted.length;
  return ps.map((p) => {
    if (n === 0) return NaN;
    const pos = (p / 100) * (n - 1);
    const lo = Math.floor(pos);
    const hi = Math.min(n - 1, lo + 1);
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
  });
}

/**
 * numpy.histogram_bin_edges over [lo, hi] with `bins` equal bins. A range of one value is widened
 * by 0.5 either side, as numpy does, so the edges always increase.
 */
export function binEdges(lo: number, hi: number, bins: number): number[] {
  if (!(bins >= 1) || !Number.isInteger(bins)) throw new Error(`binEdges: bins must be a positive integer, got ${bins}`);
  if (!Number.isFinite(lo) || !Number.isFinite(hi) || lo > hi) throw new Error(`binEdges: bad range [${lo}, ${hi}]`);
  if (lo === hi) {
    lo -= 0.5;
    hi += 0.5;
  }
  // numpy.linspace: lo + i * step, with the last edge exactly hi.
  const step = (hi - lo) / bins;
  return Array.from({ length: bins + 1 }, (_, i) => (i === bins ? hi : lo + i * step));
}

export const HISTOGRAM_BINS = 40;

/**
 * Bins over the union range of both tensors, so their histograms compare bin for bin (trained vs
 * untrained in a run; run A vs run B in the diff).
 */
export function sharedEdges(a: Float32Array, b: Float32Array, bins = HISTOGRAM_BINS): number[] {
  const sa = summarize(a);
  const sb = summarize(b);
  return binEdges(Math.min(sa.min, sb.min), Math.max(sa.max, sb.max), bins);
}

/** Counts per bin like numpy.histogram(values, bins=edges); values outside the edges are not counted. */
export function histogram(values: ArrayLike<number>, edges: number[]): number[] {
  const bins = edges.length - 1;
  const counts = new Array<number>(bins).fill(0);
  const lo = edges[0];
  const hi = edges[bins];
  const scale = bins / (hi - lo);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!(v >= lo && v <= hi)) continue;
    let b = Math.min(bins - 1, Math.floor((v - lo) * scale));
    // The scaled guess can land one bin off next to an edge: settle it against the edges themselves.
    if (b > 0 && v < edges[b]) b--;
    else if (b < bins - 1 && v >= edges[b + 1]) b++;
    counts[b]++;
  }
  return counts;
}

/**
 * Per slice along the last axis of a C-order tensor of `shape` (the output filters of a kernel,
 * the channels of a feature map): its summary and L2 norm.
 */
export function lastAxisStats(data: ArrayLike<number>, shape: number[]): (Summary & { l2: number })[] {
  const channels = shape[shape.length - 1];
  const rows = channels > 0 ? data.length / channels : 0;
  const slice = new Float64Array(rows);
  return Array.from({ length: channels }, (_, c) => {
    let sq = 0;
    for (let r = 0; r < rows; r++) {
      const v = data[r * channels + c];
      slice[r] = v;
      sq += v * v;
    }
    return { ...summarize(slice), l2: Math.sqrt(sq) };
  });
}
