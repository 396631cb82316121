/**
 * Identity for the wasm backend without the copy. tfjs clones every tensor a gradient will need
 * (engine.saveTensorsForBackwardMode) through Identity, and the wasm backend's Identity copies
 * the data: 94 copies in a training step of the book's model, about 2 ms. Tensors are immutable
 * (Variable.assign swaps in a new buffer; the project's kernels write only into outputs they
 * allocate), so the clone can share the buffer and hold a reference to it, as the cpu backend's
 * Identity does. Strings keep the backend's own kernel.
 */
import { tf } from '../tf.js';
import { kernelCounter } from '../kernel-counters.js';
import type { KernelArgs, RawKernelArgs } from './heap.js';

const counter = kernelCounter(tf.Identity);

interface RefCountingBackend {
  incRef(dataId: tf.DataId): void;
}

export function identity(args: KernelArgs<Record<string, never>>, original: tf.KernelConfig): tf.TensorInfo | tf.TensorInfo[] {
  const { x } = args.inputs as { x: tf.TensorInfo };
  if (x.dtype === 'string') {
    counter.passthrough();
    return original.kernelFunc(args as unknown as RawKernelArgs);
  }
  counter.fast();
  (args.backend as RefCountingBackend).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}
