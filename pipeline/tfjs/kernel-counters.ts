/**
 * How often each of the project's wasm kernels (wasm-kernels/) took its fast path, and how often
 * it fell back. A fallback gives the same numbers more slowly, so nothing but a count can tell
 * that a fast path stopped being taken (or that the backend's own kernel ran instead of ours):
 * the kernel tests assert on these, and `npm run bench` prints them.
 *
 * The counts are per thread (each shard worker of the parallel trainer has its own) and cost one
 * integer increment per kernel call.
 */

export interface KernelCount {
  /** calls that ran the kernel's fast path */
  fast: number;
  /** calls the fast path refused, sent to a slower path: a generic loop or the backend's own kernel */
  fallback: number;
  /**
   * Calls the kernel is not for, handed to the backend's own kernel by design because it is fast
   * there already (BatchMatMul's plain products, which XNNPACK runs): neither fast nor fallback.
   */
  passthrough: number;
  /** fallbacks by the condition that failed */
  reasons: Record<string, number>;
}

export type KernelCounts = Record<string, KernelCount>;

/** What a kernel's dispatch calls once per call, on the path it takes. */
export interface KernelCounter {
  fast(): void;
  fallback(reason: string): void;
  passthrough(): void;
}

class Count implements KernelCounter {
  nFast = 0;
  nFallback = 0;
  nPassthrough = 0;
  readonly reasons = new Map<string, number>();

  fast(): void {
    this.nFast++;
  }

  fallback(reason: string): void {
    this.nFallback++;
    this.reasons.set(reason, (this.reasons.get(reason) ?? 0) + 1);
  }

  passthrough(): void {
    this.nPassthrough++;
  }
}

const counters = new Map<string, Count>();

/** The counter of one kernel, created once when its module loads. */
export function kernelCounter(kernelName: string): KernelCounter {
  let count = counters.get(kernelName);
  if (!count) {
    count = new Count();
    counters.set(kernelName, count);
  }
  return count;
}

/** A copy of every kernel's counts since the last reset (kernels never called show zeros). */
export function kernelCounts(): KernelCounts {
  const out: KernelCounts = {};
  for (const [name, c] of [...counters].sort(([a], [b]) => (a < b ? -1 : 1))) {
    out[name] = { fast: c.nFast, fallback: c.nFallback, passthrough: c.nPassthrough, reasons: Object.fromEntries(c.reasons) };
  }
  return out;
}

export function resetKernelCounts(): void {
  for (const c of counters.values()) {
    c.nFast = 0;
    c.nFallback = 0;
    c.nPassthrough = 0;
    c.reasons.clear();
  }
}
