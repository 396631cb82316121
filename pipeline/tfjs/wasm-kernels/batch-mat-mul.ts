/**
 * BatchMatMul for the wasm backend, choosing which operand XNNPACK packs. The backend sends every
 * product with transposeA or transposeB to a scalar blocked loop and only plain ones to XNNPACK;
 * the dense layers' gradients are exactly such products (dx = dy·Wᵀ, dW = xᵀ·dy), about 6 ms each
 * for the book's 3136x100 layer at batch 32. Transposing operands first (a cheap copy) and running
 * a plain product takes well under 1 ms. Batched products (outer size > 1) go to the backend's
 * kernel.
 *
 * XNNPACK packs the right-hand operand when it first sees it (about 7 ns per element: it reads it
 * transposed) and keeps the packed copy for that tensor; in training nearly every right-hand
 * operand is new (a gradient, or weights Adam just replaced), so the product is computed either as
 * op(A)·op(B) or as (op(B)ᵀ·op(A)ᵀ)ᵀ, whichever costs less in packing and transposes (about 2.6 ns
 * per element): dx = dy·Wᵀ is cheapest as (W·dyᵀ)ᵀ, which packs the small dyᵀ instead of the
 * 313,600 weights, and so is the dense layer's forward product at a shard of 16 (x·W as
 * (Wᵀ·xᵀ)ᵀ: 1.3 ms instead of 2.9). A right-hand operand XNNPACK already holds packed (inference
 * with fixed weights) is never swapped.
 *
 * With the native kernels (native-kernels.ts) every unbatched float32 product runs there instead,
 * transposed operands read in place, with the same bits.
 */
import { tf } from '../tf.js';
import { kernelCounter } from '../kernel-counters.js';
import { nativeKernels } from '../native-kernels.js';
import { asTensor, heapViews, type KernelArgs, type RawKernelArgs, type WasmHeapBackend } from './heap.js';

const counter = kernelCounter(tf.BatchMatMul);

/** ns per element (measured on the book's shapes): XNNPACK's packing of a right-hand operand, and a transpose. */
const PACK = 7;
const TRANSPOSE = 2.6;

/** The right-hand operands XNNPACK holds packed (it keys its operators by tensor; freed with the tensor). */
const packed = new WeakSet<object>();

export function batchMatMul(
  args: KernelArgs<tf.BatchMatMulAttrs>,
  original: tf.KernelConfig,
): tf.TensorInfo | tf.TensorInfo[] {
  const { inputs, attrs } = args;
  const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const outerA = tf.util.sizeFromShape(a.shape.slice(0, -2));
  const outerB = tf.util.sizeFromShape(b.shape.slice(0, -2));
  let refused: string | undefined;
  if (outerA !== 1 || outerB !== 1) refused = 'batched (outer size > 1)';
  else if (a.dtype !== 'float32' || b.dtype !== 'float32') refused = 'not float32';
  const plain = !attrs.transposeA && !attrs.transposeB;
  if (refused && plain) {
    // what the backend runs as it would anyway: not this kernel's business
    counter.passthrough();
    return original.kernelFunc(args as unknown as RawKernelArgs);
  }
  if (refused) {
    counter.fallback(refused);
    return original.kernelFunc(args as unknown as RawKernelArgs);
  }
  const [ra, ca] = a.shape.slice(-2);
  const [rb, cb] = b.shape.slice(-2);
  const native = nativeKernels();
  if (native) {
    counter.fast();
    return nativeProduct(args.backend as WasmHeapBackend, a, b, attrs, null, [-Infinity, Infinity]);
  }
  const sizeA = ra * ca;
  const sizeB = rb * cb;
  const sizeOut = (attrs.transposeA ? ca : ra) * (attrs.transposeB ? rb : cb);
  // what each way round costs, in ns: the transposes it makes and the operand XNNPACK packs
  const packsB = plain && packed.has(b.dataId) ? 0 : PACK * sizeB;
  const direct = TRANSPOSE * ((attrs.transposeA ? sizeA : 0) + (attrs.transposeB ? sizeB : 0)) + packsB;
  const swapped = TRANSPOSE * ((attrs.transposeB ? 0 : sizeB) + (attrs.transposeA ? 0 : sizeA) + sizeOut) + PACK * sizeA;
  if (plain && direct <= swapped) {
    counter.passthrough();
    packed.add(b.dataId);
    return original.kernelFunc(args as unknown as RawKernelArgs);
  }
  counter.fast();
  const outer = (a.shape.length >= b.shape.length ? a.shape : b.shape).slice(0, -2);
  return tf.tidy(() => {
    const a2 = tf.reshape(asTensor(a), [ra, ca]) as tf.Tensor2D;
    const b2 = tf.reshape(asTensor(b), [rb, cb]) as tf.Tensor2D;
    let product: tf.Tensor2D;
    if (direct <= swapped) {
      product = tf.matMul(attrs.transposeA ? tf.transpose(a2) : a2, attrs.transposeB ? tf.transpose(b2) : b2);
    } else {
      const bT = attrs.transposeB ? b2 : tf.transpose(b2);
      const aT = attrs.transposeA ? a2 : tf.transpose(a2);
      product = tf.transpose(tf.matMul(bT, aT)) as tf.Tensor2D;
    }
    return tf.reshape(product, [...outer, ...product.shape]);
  });
}

/**
 * op(a)·op(b) (+ bias, clamped) on the native kernels, for unbatched float32 operands (any rank
 * with outer size 1). Also _FusedMatMul's.
 */
export function nativeProduct(
  wasm: WasmHeapBackend,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  attrs: { transposeA: boolean; transposeB: boolean },
  bias: tf.TensorInfo | null,
  clamp: [number, number],
): tf.TensorInfo {
  const native = nativeKernels();
  if (!native) throw new Error('nativeProduct without the native kernels');
  const [ra, ca] = a.shape.slice(-2);
  const [rb, cb] = b.shape.slice(-2);
  const [m, k] = attrs.transposeA ? [ca, ra] : [ra, ca];
  const n = attrs.transposeB ? rb : cb;
  const outer = (a.shape.length >= b.shape.length ? a.shape : b.shape).slice(0, -2);
  const out = wasm.makeOutput([...outer, m, n], 'float32');
  const [as, bs, outs, biases] = heapViews(wasm, a, b, out, ...(bias ? [bias] : []));
  native.matMul(as, bs, outs, biases ?? null, m, n, k, attrs.transposeA, attrs.transposeB, clamp[0], clamp[1]);
  return out;
}
