/**
 * The project's training kernels for the wasm backend (one module per kernel in wasm-kernels/).
 * The wasm backend has no Conv2DBackpropFilter, so out of the box a Conv2D cannot train on it,
 * and runs Conv2DBackpropInput and MaxPoolGrad as slow naive loops. These replace them with
 * kernels built from what it runs fast (XNNPACK conv2d and matMul) or from single passes over
 * the wasm heap; a case a fast path does not cover goes to the backend's own kernel. Where the
 * native kernels are built (native-kernels.ts), products and convolutions (Conv2D, FusedConv2D,
 * BatchMatMul, _FusedMatMul, the filter gradient), bias additions and bias gradients run there
 * instead, with the same bits. Each
 * kernel counts which way it went (kernel-counters.ts). Identity shares its input's buffer instead of
 * copying it (wasm-kernels/identity.ts).
 * backend.ts registers them when it starts the wasm backend.
 */
import { tf } from './tf.js';
import { add } from './wasm-kernels/add.js';
import { batchMatMul } from './wasm-kernels/batch-mat-mul.js';
import { conv2d } from './wasm-kernels/conv2d.js';
import { conv2dBackpropFilter } from './wasm-kernels/conv2d-backprop-filter.js';
import { conv2dBackpropInput } from './wasm-kernels/conv2d-backprop-input.js';
import type { KernelArgs } from './wasm-kernels/heap.js';
import { fusedMatMul } from './wasm-kernels/fused-mat-mul.js';
import { identity } from './wasm-kernels/identity.js';
import { maxPoolGrad } from './wasm-kernels/max-pool-grad.js';
import { sum } from './wasm-kernels/sum.js';

const BACKEND = 'wasm';

/** The configs registered here, by kernel name (registering is idempotent). */
const registered = new Map<string, tf.KernelConfig>();

type Impl = (args: KernelArgs<never>, original: tf.KernelConfig | undefined) => tf.TensorInfo | tf.TensorInfo[];

const IMPLS: Record<string, Impl> = {
  [tf.Conv2DBackpropFilter]: (args) => conv2dBackpropFilter(args),
  [tf.Conv2DBackpropInput]: (args, original) => conv2dBackpropInput(args, required(original, tf.Conv2DBackpropInput)),
  [tf.MaxPoolGrad]: (args, original) => maxPoolGrad(args, required(original, tf.MaxPoolGrad)),
  [tf.BatchMatMul]: (args, original) => batchMatMul(args, required(original, tf.BatchMatMul)),
  [tf.Sum]: (args, original) => sum(args, required(original, tf.Sum)),
  [tf.Conv2D]: (args, original) => conv2d(args, required(original, tf.Conv2D), tf.Conv2D),
  [tf.FusedConv2D]: (args, original) => conv2d(args, required(original, tf.FusedConv2D), tf.FusedConv2D),
  [tf._FusedMatMul]: (args, original) => fusedMatMul(args, required(original, tf._FusedMatMul)),
  [tf.Identity]: (args, original) => identity(args, required(original, tf.Identity)),
  [tf.Add]: (args, original) => add(args, required(original, tf.Add)),
};

function required(config: tf.KernelConfig | undefined, name: string): tf.KernelConfig {
  if (!config) throw new Error(`the wasm backend has no ${name} kernel to fall back to`);
  return config;
}

/** Names of the kernels that registerWasmTrainingKernels puts on the wasm backend. */
export const WASM_TRAINING_KERNELS = Object.keys(IMPLS);

/**
 * The config registerWasmTrainingKernels registered for `name`: tf.getKernel(name, 'wasm') is this
 * very object while the backend runs the project's kernel (and not the backend's own, which gives
 * the same numbers). Throws before registration.
 */
export function wasmTrainingKernel(name: string): tf.KernelConfig {
  const config = registered.get(name);
  if (!config) throw new Error(`${name}: no project kernel registered on wasm (registerWasmTrainingKernels not called?)`);
  return config;
}

/**
 * Registers the project's kernels on the wasm backend, replacing the backend's own. Call after
 * importing @tensorflow/tfjs-backend-wasm (which registers its kernels) and before
 * tf.setBackend('wasm') (which runs the kernels' setup). Idempotent.
 */
export function registerWasmTrainingKernels(): void {
  for (const [name, impl] of Object.entries(IMPLS)) {
    if (registered.has(name)) continue;
    const original = tf.getKernel(name, BACKEND);
    if (original) tf.unregisterKernel(name, BACKEND);
    const config: tf.KernelConfig = {
      kernelName: name,
      backendName: BACKEND,
      // The original's setup binds its wasm function, which the fallback path calls.
      setupFunc: original?.setupFunc,
      kernelFunc: (args) => impl(args as KernelArgs<never>, original),
    };
    registered.set(name, config);
    tf.registerKernel(config);
  }
}
