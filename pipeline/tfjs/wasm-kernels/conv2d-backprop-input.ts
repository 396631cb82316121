/**
 * Conv2DBackpropInput for the wasm backend. For stride 1 the input gradient is itself a
 * convolution: dy convolved with the kernel flipped in space and with its in/out channels swapped,
 * padded by (k - 1 - pad) on each side. That runs through XNNPACK's conv2d (about 6 ms for the
 * book's second conv layer at batch 32, where the backend's own loop takes about 53 ms). Strides
 * other than 1 (and anything not float32 NHWC) go to the backend's own slow but correct kernel.
 */
import { tf } from '../tf.js';
import { kernelCounter } from '../kernel-counters.js';
import { asTensor, type KernelArgs, type RawKernelArgs, type WasmHeapBackend } from './heap.js';

const counter = kernelCounter(tf.Conv2DBackpropInput);

export function conv2dBackpropInput(
  args: KernelArgs<tf.Conv2DBackpropInputAttrs>,
  original: tf.KernelConfig,
): tf.TensorInfo | tf.TensorInfo[] {
  const { inputs, attrs, backend } = args;
  const { dy, filter } = inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const info = tf.backend_util.computeConv2DInfo(
    attrs.inputShape,
    filter.shape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    tf.backend_util.convertConv2DDataFormat(attrs.dataFormat),
  );
  const { filterHeight: kh, filterWidth: kw, padInfo } = info;
  const pads = [kh - 1 - padInfo.top, kh - 1 - padInfo.bottom, kw - 1 - padInfo.left, kw - 1 - padInfo.right];
  const refused = refusal(dy, filter, info, pads);
  if (refused) {
    counter.fallback(refused);
    return original.kernelFunc(args as unknown as RawKernelArgs);
  }
  counter.fast();
  return tf.tidy(() => {
    const flipped = flipKernel(filter, backend as WasmHeapBackend);
    const pad: tf.backend_util.ExplicitPadding = [
      [0, 0],
      [pads[0], pads[1]],
      [pads[2], pads[3]],
      [0, 0],
    ];
    return tf.conv2d(asTensor<tf.Rank.R4>(dy), flipped, 1, pad);
  });
}

/** Why the fast path cannot take this case (the fallback counter's reason), or undefined. */
function refusal(dy: tf.TensorInfo, filter: tf.TensorInfo, info: tf.backend_util.Conv2DInfo, pads: number[]): string | undefined {
  if (dy.dtype !== 'float32' || filter.dtype !== 'float32') return 'not float32';
  if (info.strideHeight !== 1 || info.strideWidth !== 1) return 'stride other than 1';
  if (info.dataFormat !== 'channelsLast') return 'not NHWC';
  // Explicit padding wider than the kernel has no equivalent forward convolution.
  if (pads.some((p) => p < 0)) return 'padding wider than the kernel';
  return undefined;
}

/**
 * The kernel [kh, kw, in, out] turned into the one that maps dy back to x: flipped in both
 * spatial axes, channels swapped, [kh, kw, out, in]. One pass in JS: the backend's Reverse kernel
 * alone took about 0.5 ms for a 3x3x32x64 kernel.
 */
function flipKernel(filter: tf.TensorInfo, wasm: WasmHeapBackend): tf.Tensor4D {
  const [kh, kw, cin, cout] = filter.shape;
  const outInfo = wasm.makeOutput([kh, kw, cout, cin], 'float32');
  const w = wasm.typedArrayFromHeap(filter) as Float32Array;
  const f = wasm.typedArrayFromHeap(outInfo) as Float32Array;
  let o = 0;
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const tap = ((kh - 1 - i) * kw + (kw - 1 - j)) * cin * cout;
      for (let co = 0; co < cout; co++) {
        for (let ci = 0; ci < cin; ci++) f[o++] = w[tap + ci * cout + co];
      }
    }
  }
  // The tensor takes over the reference that makeOutput gave: the caller's tidy frees it.
  return tf.engine().makeTensorFromTensorInfo(outInfo) as tf.Tensor4D;
}
