/**
 * Conv2DBackpropFilter for the wasm backend, which has none (so out of the box a Conv2D cannot
 * train there). dW = im2col(x)ᵀ · dy: the patch matrix is written straight onto the wasm heap
 * already transposed, [kh*kw*inC, batch*outH*outW], so that the product is one plain matMul, which
 * XNNPACK runs fast: for the book's second conv layer at batch 32, about 1 ms of patches and 6 ms
 * of product. (The wasm backend runs matMul with transposeA about 10x slower than a plain one,
 * and its Slice kernel copies the whole input out of the heap on every call, which rules out
 * building the patches from slices.) Any stride and padding; float32 NHWC only, like the wasm
 * backend's Conv2D (the kernel has no dilations).
 *
 * With the native kernels (native-kernels.ts) the product runs there, its panels gathered from x
 * directly: no patch matrix, same bits.
 */
import { tf } from '../tf.js';
import { kernelCounter } from '../kernel-counters.js';
import { convGeometry, nativeKernels } from '../native-kernels.js';
import { asTensor, heapViews, type KernelArgs, type WasmHeapBackend } from './heap.js';

const counter = kernelCounter(tf.Conv2DBackpropFilter);

export function conv2dBackpropFilter({ inputs, backend, attrs }: KernelArgs<tf.Conv2DBackpropFilterAttrs>): tf.TensorInfo {
  const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const wasm = backend as WasmHeapBackend;
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    tf.backend_util.convertConv2DDataFormat(attrs.dataFormat),
  );
  // the wasm backend's Conv2D itself takes nothing else, so no gradient can ask for it
  if (info.dataFormat !== 'channelsLast' || x.dtype !== 'float32' || dy.dtype !== 'float32') {
    throw new Error(`Conv2DBackpropFilter on wasm takes float32 NHWC only, got ${x.dtype} ${dy.dtype} ${attrs.dataFormat}`);
  }
  const { batchSize, inChannels, outHeight, outWidth, outChannels, filterHeight: kh, filterWidth: kw } = info;
  const n = batchSize * outHeight * outWidth;
  const native = nativeKernels();
  if (native) {
    counter.fast();
    const out = wasm.makeOutput([kh, kw, inChannels, outChannels], 'float32');
    const [xs, dys, dws] = heapViews(wasm, x, dy, out);
    native.conv2dFilterGrad(xs, dys, dws, convGeometry(info), outChannels);
    return out;
  }
  return tf.tidy(() => {
    const colInfo = wasm.makeOutput([kh * kw * inChannels, n], 'float32');
    // The tensor takes over the reference that makeOutput gave, so the tidy frees the patches.
    const cols = tf.engine().makeTensorFromTensorInfo(colInfo) as tf.Tensor2D;
    const stride1 = info.strideHeight === 1 && info.strideWidth === 1;
    if (stride1 && outWidth === info.inWidth) {
      counter.fast();
      // channel-major copy of x: each patch row is then made of long contiguous runs
      const planes = tf.transpose(asTensor(x), [3, 0, 1, 2]);
      const [planeValues, col] = heapViews(wasm, planes, colInfo);
      patchesByBlocks(planeValues, col, info);
    } else {
      counter.fallback(stride1 ? 'output not as wide as the input' : 'stride other than 1');
      const [xs, col] = heapViews(wasm, x, colInfo);
      patchesByElements(xs, col, info);
    }
    const grads = tf.reshape(asTensor(dy), [n, outChannels]) as tf.Tensor2D;
    return tf.reshape(tf.matMul(cols, grads), [kh, kw, inChannels, outChannels]);
  });
}

/**
 * Stride 1 and output rows as wide as input rows ('same' padding): for one kernel tap, channel and
 * image, the patch row is the input plane shifted, so it is one block copy (a memmove inside the
 * wasm heap) plus zeros where the shift reads padding. About 2x faster than element by element.
 * `planes` is x as [inC, batch, inH, inW].
 */
function patchesByBlocks(planes: Float32Array, col: Float32Array, info: tf.backend_util.Conv2DInfo): void {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, filterHeight: kh, filterWidth: kw } = info;
  const width = inWidth; // = outWidth
  const heap = new Float32Array(planes.buffer);
  const src0 = planes.byteOffset >> 2;
  const dst0 = col.byteOffset >> 2;
  const image = outHeight * width;
  const plane = batchSize * inHeight * inWidth;
  let o = 0; // patch element, relative to col
  for (let i = 0; i < kh; i++) {
    const rowShift = i - info.padInfo.top;
    // output rows whose input row is inside the image
    const rLo = Math.max(0, -rowShift);
    const rHi = Math.max(rLo, Math.min(outHeight, inHeight - rowShift));
    const rows = rHi - rLo;
    for (let j = 0; j < kw; j++) {
      const s = j - info.padInfo.left; // column shift
      // the columns of each row that read padding
      const zeroFrom = s >= 0 ? Math.max(0, width - s) : 0;
      const zeroTo = s >= 0 ? width : Math.min(width, -s);
      for (let d = 0; d < inChannels; d++) {
        for (let b = 0; b < batchSize; b++, o += image) {
          col.fill(0, o, o + rLo * width);
          col.fill(0, o + rHi * width, o + image);
          if (rows === 0) continue;
          const dst = o + rLo * width;
          const src = src0 + d * plane + (b * inHeight + rLo + rowShift) * inWidth;
          const len = rows * width - Math.abs(s);
          // reads stay inside this block of input rows; what wraps to the next row is zeroed below
          if (s >= 0) heap.copyWithin(dst0 + dst, src + s, src + s + len);
          else heap.copyWithin(dst0 + dst - s, src, src + len);
          for (let r = 0; r < rows; r++) {
            const row = dst + r * width;
            for (let c = zeroFrom; c < zeroTo; c++) col[row + c] = 0;
          }
        }
      }
    }
  }
}

/** Any stride and padding, one element at a time. `x` is [batch, inH, inW, inC]. */
function patchesByElements(xs: Float32Array, col: Float32Array, info: tf.backend_util.Conv2DInfo): void {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const { top: padTop, left: padLeft } = info.padInfo;
  const rowStride = inWidth * inChannels;
  const imageStride = inHeight * rowStride;
  let o = 0;
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      // output columns whose input column is inside the image: [cLo, cHi); the rest read padding
      const shift = j - padLeft;
      const cLo = Math.min(outWidth, Math.max(0, Math.ceil(-shift / sw)));
      const cHi = Math.max(cLo, Math.min(outWidth, Math.ceil((inWidth - shift) / sw)));
      const colStep = sw * inChannels;
      for (let d = 0; d < inChannels; d++) {
        for (let b = 0; b < batchSize; b++) {
          for (let r = 0; r < outHeight; r++) {
            const xr = r * sh + i - padTop;
            if (xr < 0 || xr >= inHeight) {
              col.fill(0, o, o + outWidth);
              o += outWidth;
              continue;
            }
            for (let c = 0; c < cLo; c++) col[o++] = 0;
            let src = b * imageStride + xr * rowStride + (cLo * sw + shift) * inChannels + d;
            for (let c = cLo; c < cHi; c++, src += colStep) col[o++] = xs[src];
            for (let c = cHi; c < outWidth; c++) col[o++] = 0;
          }
        }
      }
    }
  }
}
