/**
 * MaxPoolGrad for the wasm backend as one pass over the wasm heap. The backend's own kernel loops
 * over every input pixel and re-scans every window that covers it (about 11 ms for the book's
 * first pooling layer at batch 32); this one scans each pooling window once and sends dy to its
 * maximum, for any window, stride and padding: the book's 2x2 windows 4 channels at a time in
 * WebAssembly SIMD (about 0.3 ms instead of 2.8 in JavaScript), the rest in JavaScript.
 *
 * Ties: the gradient goes to ONE element of a tied window, the first strict maximum in row-major
 * window order starting from -Infinity, exactly like the cpu backend's maxPoolPositions (so a
 * window of only NaN or -Infinity gets none). Ties are common here: after a relu, whole windows
 * are 0. (Not built from the backend's MaxPoolWithArgmax: it keeps the LAST maximum.)
 */
import { tf } from '../tf.js';
import { kernelCounter } from '../kernel-counters.js';
import { heapViews, type KernelArgs, type RawKernelArgs, type WasmHeapBackend } from './heap.js';
import { simdKernels, type WasmModuleHolder } from '../wasm-simd.js';

const counter = kernelCounter(tf.MaxPoolGrad);

export function maxPoolGrad(args: KernelArgs<tf.MaxPoolGradAttrs>, original: tf.KernelConfig): tf.TensorInfo | tf.TensorInfo[] {
  const { inputs, backend, attrs } = args;
  const { dy, input } = inputs as { dy: tf.TensorInfo; input: tf.TensorInfo };
  if (dy.dtype !== 'float32' || input.dtype !== 'float32') {
    counter.fallback('not float32');
    return original.kernelFunc(args as unknown as RawKernelArgs);
  }
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
  const { effectiveFilterHeight: fh, effectiveFilterWidth: fw } = info;
  const { top: padTop, left: padLeft } = info.padInfo;

  const out = wasm.makeOutput(input.shape, 'float32');
  const [x, g, dx] = heapViews(wasm, input, dy, out);
  const tiles2x2 =
    fh === 2 && fw === 2 && strideHeight === 2 && strideWidth === 2 && padTop === 0 && padLeft === 0 &&
    outHeight * 2 === inHeight && outWidth * 2 === inWidth;
  if (tiles2x2 && ch % 4 === 0) {
    counter.fast();
    // one output row per call: 4 channels at a time in WebAssembly SIMD (wasm-simd.ts), same rule
    const { maxPoolGrad2x2 } = simdKernels(backend as WasmModuleHolder);
    const rowBytes = inWidth * ch * 4;
    for (let r = 0; r < batchSize * outHeight; r++) {
      maxPoolGrad2x2(x.byteOffset + 2 * r * rowBytes, g.byteOffset + r * outWidth * ch * 4, dx.byteOffset + 2 * r * rowBytes, outWidth, ch * 4, rowBytes);
    }
  } else if (tiles2x2) {
    counter.fast();
    scatter2x2(x, g, dx, batchSize * outHeight, outWidth, ch);
  } else {
    counter.fallback('not 2x2 windows tiling the input');
    scatterGeneral(x, g, dx, info);
  }
  return out;
}

/**
 * The book's pooling (2x2, stride 2, input of even size): the windows tile the input, so every dx
 * element is written once and nothing needs zeroing first.
 */
function scatter2x2(x: Float32Array, g: Float32Array, dx: Float32Array, rows: number, outWidth: number, ch: number): void {
  const rowStride = outWidth * 2 * ch;
  let o = 0;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < outWidth; c++) {
      let i0 = (r * 2 * outWidth + c) * 2 * ch;
      for (let d = 0; d < ch; d++, o++, i0++) {
        const i1 = i0 + ch;
        const i2 = i0 + rowStride;
        const i3 = i2 + ch;
        const v0 = x[i0];
        const v1 = x[i1];
        const v2 = x[i2];
        const v3 = x[i3];
        // The first strict maximum in the order (0,0), (0,1), (1,0), (1,1), from -Infinity, as
        // on cpu: a window of only NaN or -Infinity gets no gradient.
        let best = Number.NEGATIVE_INFINITY;
        let at = -1;
        if (v0 > best) {
          best = v0;
          at = 0;
        }
        if (v1 > best) {
          best = v1;
          at = 1;
        }
        if (v2 > best) {
          best = v2;
          at = 2;
        }
        if (v3 > best) at = 3;
        const gv = g[o];
        dx[i0] = at === 0 ? gv : 0;
        dx[i1] = at === 1 ? gv : 0;
        dx[i2] = at === 2 ? gv : 0;
        dx[i3] = at === 3 ? gv : 0;
      }
    }
  }
}

/** Any window, stride and padding: dy goes to each window's first maximum, summed where windows overlap. */
function scatterGeneral(x: Float32Array, g: Float32Array, dx: Float32Array, info: tf.backend_util.Conv2DInfo): void {
  const { batchSize, inHeight, inWidth, inChannels: ch, outHeight, outWidth, strideHeight, strideWidth } = info;
  const { effectiveFilterHeight: fh, effectiveFilterWidth: fw } = info;
  const { top: padTop, left: padLeft } = info.padInfo;
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
          if (at >= 0) dx[at] += g[o];
        }
      }
    }
  }
}
