/**
 * BatchMatMul for the wasm backend with transposed operands. The backend sends every product with
 * transposeA or transposeB to a scalar blocked loop and only plain ones to XNNPACK; the dense
 * layers' gradients are exactly such products (dx = dy·Wᵀ, dW = xᵀ·dy), about 6 ms each for the
 * book's 3136x100 layer at batch 32. Transposing operands first (a cheap copy) and running a
 * plain product takes well under 1 ms. Batched products (outer size > 1) go to the backend's
 * kernel.
 *
 * XNNPACK packs the right-hand operand anew for every product (its cache is keyed by tensor, and
 * gradients are fresh tensors), so the product is computed either as op(A)·op(B) or as
 * (op(B)ᵀ·op(A)ᵀ)ᵀ, whichever copies fewer elements: dx = dy·Wᵀ is cheapest as (W·dyᵀ)ᵀ, which
 * packs the small dyᵀ instead of the 313,600 weights.
 */
import { tf } from '../tf.js';
import { kernelCounter } from '../kernel-counters.js';
import { asTensor, type KernelArgs, type RawKernelArgs } from './heap.js';

const counter = kernelCounter(tf.BatchMatMul);

export function batchMatMul(
  args: KernelArgs<tf.BatchMatMulAttrs>,
  original: tf.KernelConfig,
): tf.TensorInfo | tf.TensorInfo[] {
  const { inputs, attrs } = args;
  const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const outerA = tf.util.sizeFromShape(a.shape.slice(0, -2));
  const outerB = tf.util.sizeFromShape(b.shape.slice(0, -2));
  if (!attrs.transposeA && !attrs.transposeB) {
    // what XNNPACK runs fast already: not this kernel's business
    counter.passthrough();
    return original.kernelFunc(args as unknown as RawKernelArgs);
  }
  let refused: string | undefined;
  if (outerA !== 1 || outerB !== 1) refused = 'batched (outer size > 1)';
  else if (a.dtype !== 'float32' || b.dtype !== 'float32') refused = 'not float32';
  if (refused) {
    counter.fallback(refused);
    return original.kernelFunc(args as unknown as RawKernelArgs);
  }
  counter.fast();
  const [ra, ca] = a.shape.slice(-2);
  const [rb, cb] = b.shape.slice(-2);
  const sizeA = ra * ca;
  const sizeB = rb * cb;
  const sizeOut = (attrs.transposeA ? ca : ra) * (attrs.transposeB ? rb : cb);
  // elements transposed or packed by each way round
  const direct = (attrs.transposeA ? sizeA : 0) + (attrs.transposeB ? sizeB : 0) + sizeB;
  const swapped = (attrs.transposeB ? 0 : sizeB) + (attrs.transposeA ? 0 : sizeA) + sizeA + sizeOut;
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
