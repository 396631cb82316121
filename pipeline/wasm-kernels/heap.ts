/**
 * The slice of tfjs-backend-wasm's backend that JS kernels use to read and write tensors in place
 * on the wasm heap (the backend's own JS kernels, e.g. Concat, do the same). Declared here as a
 * structural type so that only pipeline/tf.ts imports the backend package.
 */
import * as tf from '@tensorflow/tfjs';

export interface WasmHeapBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): tf.TypedArray;
}

/** Kernel arguments as the engine passes them: inputs are Tensors when called through ops. */
export interface KernelArgs<A> {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs: A;
}

/**
 * A tensor over the same data as `info`, to call tf ops on inside a kernel. The engine passes
 * Tensors when a kernel runs through an op, but a backend may hand plain TensorInfos; wrapping
 * adds a reference that the enclosing tf.tidy drops again.
 */
export function asTensor<R extends tf.Rank>(info: tf.TensorInfo): tf.Tensor<R> {
  return (info instanceof tf.Tensor ? info : tf.engine().makeTensorFromTensorInfo(info)) as tf.Tensor<R>;
}
