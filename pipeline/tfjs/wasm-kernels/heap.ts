/**
 * The slice of tfjs-backend-wasm's backend that JS kernels use to read and write tensors in place
 * on the wasm heap (the backend's own JS kernels, e.g. Concat, do the same). Declared here as a
 * structural type so that only pipeline/tfjs/backend.ts imports the backend package.
 */
import { tf } from '../tf.js';

export interface WasmHeapBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): tf.TypedArray;
}

/**
 * Float32 views of tensors on the wasm heap, to read and write in place. Take them after the
 * kernel's last allocation (makeOutput): growing the wasm memory detaches views made before.
 */
export function heapViews(wasm: WasmHeapBackend, ...infos: tf.TensorInfo[]): Float32Array[] {
  return infos.map((info) => wasm.typedArrayFromHeap(info) as Float32Array);
}

/** What the engine passes a kernel function. */
export type RawKernelArgs = Parameters<tf.KernelFunc>[0];

/** The same, with the kernel's attributes typed. */
export interface KernelArgs<A> {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs: A;
}

/**
 * A tensor over the same data as `info`, to call tf ops on inside a kernel. The engine passes
 * Tensors when a kernel runs through an op, but a caller may hand plain TensorInfos: the wrapper
 * then takes a reference of its own, which the enclosing tf.tidy drops again.
 */
export function asTensor<R extends tf.Rank>(info: tf.TensorInfo): tf.Tensor<R> {
  if (info instanceof tf.Tensor) return info as tf.Tensor<R>;
  const wrapped = tf.engine().makeTensorFromTensorInfo(info);
  tf.engine().backend.incRef(info.dataId);
  return wrapped as tf.Tensor<R>;
}
