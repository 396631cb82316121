/**
 * The project's native kernels (pipeline/native/kernels.c, built by `npm ci` with node-gyp): the
 * matrix products and 2D convolutions of the wasm backend, run on the same heap in place, with
 * AVX2 where the CPU has it. They give XNNPACK's bits exactly (same summation order, no fused
 * multiply-add, same clamp: test/native-kernels.test.ts), so whether the addon is there decides
 * only the speed, never the weights: a machine that could not build it trains the same model on
 * XNNPACK alone, more slowly.
 *
 * CNN_LENS_NATIVE=0 leaves them off (the bench's A/B, and a way around a broken build).
 */
import { createRequire } from 'node:module';
import type { tf } from './tf.js';

export interface NativeKernels {
  /**
   * Picks the build of the inner kernel: AVX2 (taken at load where the CPU has it) or portable
   * vectors (the same operations, the same bits, slower); returns the build now running.
   */
  useIsa(isa: 'avx2' | 'portable'): 'avx2' | 'portable';
  /** c[M][N] = clamp(bias + op(a)·op(b)); a [M][K] or, transposed, [K][M]; b [K][N] or [N][K]. */
  matMul(
    a: Float32Array, b: Float32Array, c: Float32Array, bias: Float32Array | null,
    M: number, N: number, K: number, transposeA: boolean, transposeB: boolean, lo: number, hi: number,
  ): void;
  /** y = clamp(bias + x ⊛ filter): NHWC, filter [kh][kw][inC][outC], geometry from convGeometry. */
  conv2d(x: Float32Array, filter: Float32Array, y: Float32Array, bias: Float32Array | null, geometry: Int32Array, outC: number, lo: number, hi: number): void;
  /** dw [kh][kw][inC][outC] = the filter gradient of a convolution from x and dy. */
  conv2dFilterGrad(x: Float32Array, dy: Float32Array, dw: Float32Array, geometry: Int32Array, outC: number): void;
  /**
   * One Adam step of one variable (m, v, w into m2, v2, w2) on g = grads[0]*scales[0] + grads[1]*scales[1] + ...;
   * scalars: beta1, 1 - beta1, beta2, 1 - beta2, 1 - accBeta1, 1 - accBeta2, epsilon, -learningRate.
   * With helperIndex (the variable's place in the list of the helper of the step this thread
   * opened, adamHelperOpen), the helper steps part of the elements and its copy of the weights is
   * written: returns whether it was.
   */
  adam(
    m: Float32Array, v: Float32Array, w: Float32Array, m2: Float32Array, v2: Float32Array, w2: Float32Array,
    grads: Float32Array[], scales: Float32Array, scalars: Float32Array, helperIndex?: number,
  ): boolean;
  /**
   * The bytes of a board: zeroed shared memory (a SharedArrayBuffer) where a trainer's Adam helper
   * and its stepping thread meet, one helper per board. Pass it as an Int32Array over it.
   */
  adamHelperBoardBytes(): number;
  /**
   * This thread is the board's helper for the Adam step `task` (while ctrl[slot] stays `task`),
   * and takes the new weights into `copies`, one array per variable in the stepping thread's
   * order. False, registering nothing, for more than 64 variables.
   */
  adamHelperRegister(board: Int32Array, copies: Float32Array[], ctrl: Int32Array, slot: number, task: number): boolean;
  /**
   * Steps the parts of variables the stepping thread hands over, until adamHelperRelease, until
   * the watch no longer reads the task, or after timeoutMs. Returns how many variables' copies
   * were written; -1 when not released by the stepping thread.
   */
  adamHelperServe(board: Int32Array, timeoutMs: number): number;
  /** Opens step `task` on the board: this thread's adam calls with a helper index may use its helper. */
  adamHelperOpen(board: Int32Array, task: number): void;
  /** Closes this thread's open step and ends its helper's service: the variables its copies got, -1 when no helper of that step waits. */
  adamHelperRelease(): number;
  /** out = x + bias along the last axis (x [rows][channels]). */
  biasAdd(x: Float32Array, bias: Float32Array, out: Float32Array, channels: number): void;
  /** out[c] = the sum of x's rows (x [rows][channels]) from +0, in row order, rounded after every addition. */
  sumRows(x: Float32Array, out: Float32Array, channels: number): void;
  /** The OS threads this thread's later products and convolutions may split their rows over (1 to 8). */
  setThreads(n: number): void;
}

const ADDON = '../native/build/Release/cnn_lens_kernels.node';

interface Loaded {
  kernels: NativeKernels | null;
  /** For the log: which kernels run, or why the native ones do not. */
  status: string;
}

let loaded: Loaded | undefined;
let switchedOff = false;

function load(): Loaded {
  if (process.env.CNN_LENS_NATIVE === '0') return { kernels: null, status: 'native kernels off (CNN_LENS_NATIVE=0): XNNPACK only' };
  try {
    const kernels = createRequire(import.meta.url)(ADDON) as NativeKernels;
    return { kernels, status: `native kernels (${kernels.useIsa('avx2')}) for products and convolutions` };
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' ? 'not built' : (err as Error).message.split('\n')[0];
    return {
      kernels: null,
      status: `native kernels unavailable (${why}): XNNPACK only, same numbers, slower; build them with \`npm rebuild\` (needs make, gcc, g++ and python3)`,
    };
  }
}

/** The native kernels, or null when the addon is not built, did not load, or is switched off. */
export function nativeKernels(): NativeKernels | null {
  loaded ??= load();
  return switchedOff ? null : loaded.kernels;
}

/** One line for the log: which kernels run products and convolutions. */
export function nativeKernelStatus(): string {
  loaded ??= load();
  return switchedOff ? 'native kernels switched off in this thread: XNNPACK only' : loaded.status;
}

/**
 * The cores this thread's products and convolutions may use: their output rows split over that
 * many OS threads where there are enough of them (inference at batch 500, not a training shard).
 * Each output is computed as on one thread: the bits do not depend on it. 1 by default; the
 * pipeline sets its --threads, and the trainer 1 around each step (its shards already take the
 * cores). Returns the count before.
 */
let threads = 1;
export function setNativeThreads(n: number): number {
  const before = threads;
  threads = n;
  // to the addon even while switched off here, so that switching back on keeps the count
  loaded ??= load();
  loaded.kernels?.setThreads(Math.max(1, Math.min(8, Math.floor(n))));
  return before;
}

/**
 * A board for a trainer's Adam helper (NativeKernels.adamHelperBoardBytes), or undefined without
 * the addon. Opening a step on it and closing it work even where the native kernels are switched
 * off in this thread: a helper in another thread must not wait for a step that will not come.
 */
export function adamHelperBoard(): SharedArrayBuffer | undefined {
  loaded ??= load();
  return loaded.kernels ? new SharedArrayBuffer(loaded.kernels.adamHelperBoardBytes()) : undefined;
}
export function openAdamHelper(board: SharedArrayBuffer, task: number): void {
  loaded ??= load();
  loaded.kernels?.adamHelperOpen(new Int32Array(board), task);
}
/** Closes this thread's open step: the variables whose copies its helper got, -1 when none waited. */
export function releaseAdamHelper(): number {
  loaded ??= load();
  return loaded.kernels?.adamHelperRelease() ?? -1;
}

/** Turns the native kernels off (or back on) in this thread: tests compare both ways. */
export function setNativeKernels(on: boolean): void {
  switchedOff = !on;
}

/** The 14 numbers kernels.c reads a convolution's geometry from. */
export function convGeometry(info: tf.backend_util.Conv2DInfo): Int32Array {
  return Int32Array.from([
    info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.outHeight, info.outWidth,
    info.filterHeight, info.filterWidth, info.strideHeight, info.strideWidth, info.dilationHeight, info.dilationWidth,
    info.padInfo.top, info.padInfo.left,
  ]);
}
