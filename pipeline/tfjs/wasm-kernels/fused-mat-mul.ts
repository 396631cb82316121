/**
 * _FusedMatMul (the dense layers' product with bias, and relu or no activation, in inference) on
 * the native kernels, with XNNPACK's bits: the bias starts each sum. Only plain products: the
 * backend computes transposed fused products in a loop of its own, whose bits differ, so those
 * (which the project's models never make) stay there.
 */
import { tf } from '../tf.js';
import { kernelCounter } from '../kernel-counters.js';
import { nativeKernels } from '../native-kernels.js';
import { nativeProduct } from './batch-mat-mul.js';
import { activationClamp } from './conv2d.js';
import type { KernelArgs, RawKernelArgs, WasmHeapBackend } from './heap.js';

const counter = kernelCounter(tf._FusedMatMul);

export function fusedMatMul(args: KernelArgs<tf._FusedMatMulAttrs>, original: tf.KernelConfig): tf.TensorInfo | tf.TensorInfo[] {
  if (!nativeKernels()) {
    counter.passthrough();
    return original.kernelFunc(args as unknown as RawKernelArgs);
  }
  const { inputs, attrs } = args;
  const { a, b, bias, preluActivationWeights } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo; bias?: tf.TensorInfo; preluActivationWeights?: tf.TensorInfo };
  const clamp = activationClamp(attrs.activation);
  const n = attrs.transposeB ? b.shape[b.shape.length - 2] : b.shape[b.shape.length - 1];
  const refused =
    a.dtype !== 'float32' || b.dtype !== 'float32' ? 'not float32'
    : attrs.transposeA || attrs.transposeB ? 'transposed'
    : tf.util.sizeFromShape(a.shape.slice(0, -2)) !== 1 || tf.util.sizeFromShape(b.shape.slice(0, -2)) !== 1 ? 'batched (outer size > 1)'
    : !clamp || preluActivationWeights ? `activation ${attrs.activation}`
    : bias && (bias.dtype !== 'float32' || tf.util.sizeFromShape(bias.shape) !== n) ? 'bias not one per column'
    : undefined;
  if (refused) {
    counter.fallback(refused);
    return original.kernelFunc(args as unknown as RawKernelArgs);
  }
  counter.fast();
  return nativeProduct(args.backend as WasmHeapBackend, a, b, attrs, bias ?? null, clamp!);
}
