/**
 * Conv2D and FusedConv2D (bias, and relu or no activation) for the wasm backend on the native
 * kernels, in AVX2, with XNNPACK's bits (native-kernels.ts): 6 output pixels at a time times the
 * filter, each pixel's patch read in place as XNNPACK's indirect convolution reads it. About 2.3x
 * faster than XNNPACK for the book's second layer and its input gradient; a layer with under 4
 * input channels (the book's first) stays on XNNPACK, faster there. Training runs Conv2D (tfjs does not fuse under a gradient tape) and, through
 * Conv2DBackpropInput, its flipped kernel; inference runs FusedConv2D. Without the native
 * kernels, or for what they do not take, the backend's own kernel runs.
 */
import { tf } from '../tf.js';
import { kernelCounter } from '../kernel-counters.js';
import { convGeometry, nativeKernels } from '../native-kernels.js';
import { heapViews, type KernelArgs, type RawKernelArgs, type WasmHeapBackend } from './heap.js';

type ConvAttrs = tf.Conv2DAttrs & { activation?: tf.FusedConv2DAttrs['activation'] };

/** Fewer input channels than this go to XNNPACK, measured faster there (1.2-1.5 ms against 2 for the book's first layer at a shard of 16). */
const MIN_IN_CHANNELS = 4;

const counters = { [tf.Conv2D]: kernelCounter(tf.Conv2D), [tf.FusedConv2D]: kernelCounter(tf.FusedConv2D) };

/** The clamp of XNNPACK's output for an activation it fuses, or undefined for one it does not. */
export function activationClamp(activation: string | undefined): [number, number] | undefined {
  if (activation === undefined || activation === 'linear') return [-Infinity, Infinity];
  if (activation === 'relu') return [0, Infinity];
  return undefined;
}

export function conv2d(args: KernelArgs<ConvAttrs>, original: tf.KernelConfig, kernelName: typeof tf.Conv2D | typeof tf.FusedConv2D): tf.TensorInfo | tf.TensorInfo[] {
  const counter = counters[kernelName];
  const native = nativeKernels();
  if (!native) {
    counter.passthrough();
    return original.kernelFunc(args as unknown as RawKernelArgs);
  }
  const { inputs, attrs } = args;
  const { x, filter, bias, preluActivationWeights } = inputs as { x: tf.TensorInfo; filter: tf.TensorInfo; bias?: tf.TensorInfo; preluActivationWeights?: tf.TensorInfo };
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filter.shape as [number, number, number, number],
    attrs.strides,
    attrs.dilations,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    tf.backend_util.convertConv2DDataFormat(attrs.dataFormat),
  );
  if (info.inChannels < MIN_IN_CHANNELS) {
    // XNNPACK's own kernel for a few input channels is faster (the book's first layer: one)
    counter.passthrough();
    return original.kernelFunc(args as unknown as RawKernelArgs);
  }
  const clamp = activationClamp(attrs.activation);
  const refused =
    x.dtype !== 'float32' || filter.dtype !== 'float32' ? 'not float32'
    : info.dataFormat !== 'channelsLast' ? 'not NHWC'
    : !clamp || preluActivationWeights ? `activation ${attrs.activation}`
    : bias && (bias.dtype !== 'float32' || tf.util.sizeFromShape(bias.shape) !== info.outChannels) ? 'bias not one per output channel'
    : undefined;
  if (refused) {
    counter.fallback(refused);
    return original.kernelFunc(args as unknown as RawKernelArgs);
  }
  counter.fast();
  const wasm = args.backend as WasmHeapBackend;
  const out = wasm.makeOutput(info.outShape, 'float32');
  const [xs, fs, ys, bs] = heapViews(wasm, x, filter, out, ...(bias ? [bias] : []));
  native.conv2d(xs, fs, ys, bs ?? null, convGeometry(info), info.outChannels, clamp![0], clamp![1]);
  return out;
}
