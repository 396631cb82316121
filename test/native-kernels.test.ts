/**
 * The native kernels (pipeline/native/kernels.c, through pipeline/tfjs/native-kernels.ts) against
 * XNNPACK, the wasm backend's own: bit for bit, for the products and convolutions training and
 * inference run, on shapes that exercise every edge (partial tiles, padding, strides, dilations,
 * blocks of k, NaN and -0). Bit-identity is what lets a machine without the addon train the same
 * weights (test/threads.test.ts pins them with it), so nothing here has a tolerance.
 */
import seedrandom from 'seedrandom';
import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../pipeline/tfjs/tf.js';
import { initTf } from '../pipeline/tfjs/backend.js';
import { kernelCounts, resetKernelCounts } from '../pipeline/tfjs/kernel-counters.js';
import { nativeKernels, nativeKernelStatus, setNativeKernels, setNativeThreads, type NativeKernels } from '../pipeline/tfjs/native-kernels.js';

let native: NativeKernels;

beforeAll(async () => {
  await initTf('wasm');
  const loaded = nativeKernels();
  // `npm ci` builds the addon (package.json's install script); CI must not quietly test without it
  expect(loaded, nativeKernelStatus()).not.toBeNull();
  native = loaded!;
});

/** Values from a seeded generator, with a few exact zeros and negative zeros among them. */
function values(n: number, seed: string): Float32Array {
  const rng = seedrandom(seed);
  return Float32Array.from({ length: n }, (_, i) => (i % 97 === 5 ? 0 : i % 89 === 7 ? -0 : rng() * 2 - 1));
}

/** The float32 bits of a result, to compare exactly (NaN payloads and -0 included). */
const bits = (t: tf.Tensor): Uint32Array => new Uint32Array(Float32Array.from(t.dataSync() as Float32Array).buffer);

/** The bits of what f returns; every tensor f makes is freed. */
function bitsOf(f: () => tf.Tensor): Uint32Array {
  let out: Uint32Array = new Uint32Array(0);
  tf.tidy(() => {
    out = bits(f());
  });
  return out;
}

/** f's outputs with the native kernels and with XNNPACK alone, and the native kernels' counts. */
function both(f: () => tf.Tensor, kernel: string): { got: Uint32Array; want: Uint32Array; fast: number } {
  resetKernelCounts();
  const got = bitsOf(f);
  const fast = kernelCounts()[kernel].fast;
  setNativeKernels(false);
  try {
    return { got, want: bitsOf(f), fast };
  } finally {
    setNativeKernels(true);
  }
}

const isNaNBits = (b: number) => (b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0;

/** Exact bits; with `anyNaN`, a NaN matches any NaN (its sign and payload aside). */
function expectSameBits(got: Uint32Array, want: Uint32Array, what: string, anyNaN = false): void {
  expect(got.length, what).toBe(want.length);
  let differ = 0;
  for (let i = 0; i < got.length; i++) if (got[i] !== want[i] && !(anyNaN && isNaNBits(got[i]) && isNaNBits(want[i]))) differ++;
  expect(differ, `${what}: ${differ} of ${got.length} values differ from XNNPACK's`).toBe(0);
}

type Pad = 'same' | 'valid' | tf.backend_util.ExplicitPadding;
interface ConvCase {
  x: [number, number, number, number];
  kernel: [number, number];
  out: number;
  strides?: number | [number, number];
  pad: Pad;
  dilations?: number | [number, number];
}

const CONVS: ConvCase[] = [
  { x: [16, 28, 28, 1], kernel: [3, 3], out: 32, pad: 'same' }, // the book's conv2d at a shard of 16
  { x: [16, 14, 14, 32], kernel: [3, 3], out: 64, pad: 'same' }, // conv2d_1
  { x: [16, 14, 14, 64], kernel: [3, 3], out: 32, pad: 'same' }, // conv2d_1's dx, as a convolution
  { x: [3, 9, 7, 5], kernel: [3, 3], out: 17, pad: 'valid' }, // partial tiles of rows and columns
  { x: [2, 11, 13, 3], kernel: [5, 5], out: 7, pad: 'same', strides: 2 },
  { x: [2, 11, 13, 9], kernel: [5, 5], out: 7, pad: 'same', strides: 2 },
  { x: [2, 10, 7, 4], kernel: [2, 3], out: 20, pad: 'valid', strides: [2, 1] },
  { x: [2, 8, 8, 6], kernel: [3, 3], out: 4, pad: [[0, 0], [2, 1], [0, 3], [0, 0]] },
  { x: [64, 28, 28, 32], kernel: [3, 3], out: 1, pad: 'same' }, // filter patterns' input gradient: one output channel
  { x: [2, 10, 7, 1], kernel: [2, 3], out: 20, pad: 'valid', strides: [2, 1] },
  { x: [2, 12, 12, 4], kernel: [3, 3], out: 9, pad: 'same', dilations: 2 },
  { x: [2, 8, 8, 3], kernel: [3, 3], out: 4, pad: [[0, 0], [2, 1], [0, 3], [0, 0]] },
  { x: [1, 4, 2, 3], kernel: [5, 5], out: 2, pad: 'same' }, // kernel wider than the image
  { x: [4, 40, 40, 70], kernel: [3, 3], out: 5, pad: 'same' }, // k = 630 and a long filter-gradient k
  { x: [3, 9, 11, 16], kernel: [3, 2], out: 24, pad: 'valid', strides: [2, 1] }, // filter gradient: channels filling one whole panel a tap, strided
  { x: [2, 9, 8, 2], kernel: [2, 3], out: 5, pad: 'same', strides: [2, 1] }, // filter gradient: fewer patch columns than a panel (as patchesᵀ · dy), 2 channels
];

const label = (c: ConvCase) =>
  `x ${c.x.join('x')}, kernel ${c.kernel.join('x')} -> ${c.out}, strides ${c.strides ?? 1}, pad ${JSON.stringify(c.pad)}, dilations ${c.dilations ?? 1}`;

describe('native convolutions give XNNPACK\'s bits', () => {
  for (const c of CONVS) {
    it(label(c), () => {
      const [kh, kw] = c.kernel;
      const x = tf.tensor4d(values(tf.util.sizeFromShape(c.x), `x ${label(c)}`), c.x);
      const w = tf.tensor4d(values(kh * kw * c.x[3] * c.out, `w ${label(c)}`), [kh, kw, c.x[3], c.out]);
      const b = tf.tensor1d(values(c.out, `b ${label(c)}`));
      const strides = c.strides ?? 1;
      const dilations = c.dilations ?? 1;
      const plain = both(() => tf.conv2d(x, w, strides, c.pad, 'NHWC', dilations), tf.Conv2D);
      // under 4 input channels XNNPACK keeps the convolution (conv2d.ts): the same bits either way
      const native = c.x[3] >= 4 ? 1 : 0;
      expect(plain.fast).toBe(native);
      expectSameBits(plain.got, plain.want, 'conv2d');
      for (const activation of ['linear', 'relu'] as const) {
        const fused = both(() => tf.fused.conv2d({ x, filter: w, strides, pad: c.pad, dilations, bias: b, activation }), tf.FusedConv2D);
        expect(fused.fast).toBe(native);
        expectSameBits(fused.got, fused.want, `fused conv2d, bias, ${activation}`);
      }
      if (dilations === 1) {
        // the filter gradient: the native kernel against the project's patches + XNNPACK product
        const dyShape = plain.got.length / c.out;
        const outShape = tf.backend_util.computeConv2DInfo(c.x, [kh, kw, c.x[3], c.out], strides, 1, c.pad).outShape;
        expect(tf.util.sizeFromShape(outShape)).toBe(dyShape * c.out);
        const dy = tf.tensor4d(values(tf.util.sizeFromShape(outShape), `dy ${label(c)}`), outShape);
        const attrs = { strides, pad: c.pad, dataFormat: 'NHWC', filterShape: [kh, kw, c.x[3], c.out] };
        const grad = both(() => tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, attrs) as tf.Tensor, tf.Conv2DBackpropFilter);
        expect(grad.fast).toBe(1);
        expectSameBits(grad.got, grad.want, 'conv2d filter gradient');
        dy.dispose();
      }
      tf.dispose([x, w, b]);
    });
  }
});

interface ProductCase {
  m: number;
  k: number;
  n: number;
  transposeA?: boolean;
  transposeB?: boolean;
}

const PRODUCTS: ProductCase[] = [
  { m: 16, k: 3136, n: 100 }, // a shard's dense forward: k in blocks
  { m: 3136, k: 16, n: 100, transposeA: true }, // its dW
  { m: 16, k: 100, n: 3136, transposeB: true }, // its dx
  { m: 16, k: 10, n: 100, transposeB: true }, // dense_1's dx
  { m: 500, k: 3136, n: 100 }, // an evaluation batch
  { m: 7, k: 13, n: 5, transposeA: true, transposeB: true },
  { m: 1, k: 1, n: 1 },
  { m: 13, k: 300, n: 33 },
];

describe('native products give XNNPACK\'s bits', () => {
  for (const c of PRODUCTS) {
    const name = `${c.m}x${c.k} · ${c.k}x${c.n}, transposeA ${c.transposeA ?? false}, transposeB ${c.transposeB ?? false}`;
    it(name, () => {
      const a = tf.tensor2d(values(c.m * c.k, `a ${name}`), c.transposeA ? [c.k, c.m] : [c.m, c.k]);
      const b = tf.tensor2d(values(c.k * c.n, `b ${name}`), c.transposeB ? [c.n, c.k] : [c.k, c.n]);
      const bias = tf.tensor1d(values(c.n, `bias ${name}`));
      const plain = both(() => tf.matMul(a, b, c.transposeA, c.transposeB), tf.BatchMatMul);
      expect(plain.fast).toBe(1);
      expectSameBits(plain.got, plain.want, 'matMul');
      if (!c.transposeA && !c.transposeB) {
        for (const activation of ['linear', 'relu'] as const) {
          const fused = both(() => tf.fused.matMul({ a, b, bias, activation }), tf._FusedMatMul);
          expect(fused.fast).toBe(1);
          expectSameBits(fused.got, fused.want, `fused matMul, bias, ${activation}`);
        }
      }
      tf.dispose([a, b, bias]);
    });
  }
});

describe('native kernels at the edges', () => {
  it('treat NaN, infinities and -0 as XNNPACK does, with and without relu', () => {
    const raw = values(2 * 6 * 6 * 8, 'specials');
    raw[3] = NaN;
    raw[40] = Infinity;
    raw[41] = -Infinity;
    raw[100] = -0;
    const x = tf.tensor4d(raw, [2, 6, 6, 8]);
    const w = tf.tensor4d(values(3 * 3 * 8 * 16, 'specials w'), [3, 3, 8, 16]);
    const b = tf.tensor1d(values(16, 'specials b'));
    const plain = both(() => tf.conv2d(x, w, 1, 'same'), tf.Conv2D);
    expectSameBits(plain.got, plain.want, 'conv2d');
    expect(Array.from(new Float32Array(plain.got.buffer)).some(Number.isNaN)).toBe(true);
    const relu = both(() => tf.fused.conv2d({ x, filter: w, pad: 'same', strides: 1, bias: b, activation: 'relu' }), tf.FusedConv2D);
    expectSameBits(relu.got, relu.want, 'fused conv2d, relu');
    const a = tf.tensor2d(raw.subarray(0, 12 * 48), [12, 48]);
    const m = tf.tensor2d(values(48 * 20, 'specials m'), [48, 20]);
    const product = both(() => tf.matMul(a, m), tf.BatchMatMul);
    // One sum here meets the input's NaN, then +Infinity and -Infinity: XNNPACK's result is the
    // negative NaN that Infinity - Infinity makes, ours the input's positive one (which NaN an x86
    // addition returns depends on its operands' order in the machine code). Every other value,
    // NaN or not, is bit for bit.
    expectSameBits(product.got, product.want, 'matMul', true);
    const nanSigns = (b: Uint32Array) => Array.from(b).filter(isNaNBits).length;
    expect(nanSigns(product.got)).toBe(nanSigns(product.want));
    // XNNPACK's fully connected relu turns every NaN into 0; its convolutions' only those with the
    // sign bit set (an integer max on the bits: kernels.c)
    const bias = tf.tensor1d(values(20, 'specials bias'));
    const fusedProduct = both(() => tf.fused.matMul({ a, b: m, bias, activation: 'relu' }), tf._FusedMatMul);
    expectSameBits(fusedProduct.got, fusedProduct.want, 'fused matMul, relu');
    bias.dispose();
    tf.dispose([x, w, b, a, m]);
  });

  it('give the same bits with the portable build as with AVX2', () => {
    const x = tf.tensor4d(values(4 * 14 * 14 * 32, 'isa x'), [4, 14, 14, 32]);
    const w = tf.tensor4d(values(3 * 3 * 32 * 24, 'isa w'), [3, 3, 32, 24]);
    const run = () => bitsOf(() => tf.conv2d(x, w, 1, 'same'));
    const first = run();
    const before = native.useIsa('portable');
    try {
      expect(native.useIsa('portable')).toBe('portable');
      expectSameBits(run(), first, `portable against ${before}`);
    } finally {
      native.useIsa('avx2');
    }
    tf.dispose([x, w]);
  });

  it('reject arrays too short for the shapes they are given, naming them, and write nothing', () => {
    const a = new Float32Array(6);
    const b = new Float32Array(9);
    // b is long enough for the first call; too short for the second
    const c = new Float32Array(4).fill(7);
    expect(() => native.matMul(a, b, c, null, 2, 3, 3, false, false, -Infinity, Infinity)).toThrow('native kernels: c holds 4 floats, needs 6');
    expect(() => native.matMul(a, b.subarray(1), new Float32Array(9), null, 2, 3, 3, false, false, -Infinity, Infinity)).toThrow('native kernels: b holds 8 floats, needs 9');
    expect(() => native.matMul(a, b, c, null, 0, 3, 3, false, false, -Infinity, Infinity)).toThrow('sizes must be positive');
    expect(() => native.conv2d(a, b, c, null, new Int32Array(13), 1, 0, 1)).toThrow('geometry must be an Int32Array of 14');
    expect(() => native.matMul(a, [1, 2] as unknown as Float32Array, c, null, 2, 3, 3, false, false, -Infinity, Infinity)).toThrow('b must be a Float32Array');
    expect(Array.from(c)).toEqual([7, 7, 7, 7]);
  });
});

describe('bias additions and bias gradients on the native kernels', () => {
  for (const shape of [[16, 28, 28, 32], [16, 100], [3, 5, 7, 13], [2, 1]]) {
    it(`${shape.join('x')}: the bits of the backend's Add and of the project's Sum loop`, () => {
      const channels = shape[shape.length - 1];
      const x = tf.tensor(values(tf.util.sizeFromShape(shape), `bias x ${shape}`), shape);
      const b = tf.tensor1d(values(channels, `bias b ${shape}`));
      const added = both(() => tf.add(x, b), tf.Add);
      expect(added.fast).toBe(1);
      expectSameBits(added.got, added.want, 'x + bias');
      const axes = shape.slice(0, -1).map((_, i) => i);
      const summed = both(() => tf.sum(x, axes), tf.Sum);
      expect(summed.fast).toBe(1);
      expectSameBits(summed.got, summed.want, 'sum over the leading axes');
      // the bias broadcast as [1, ..., C] too; a bias first, or a same-shape Add, is the backend's
      const b4 = tf.reshape(b, [...shape.slice(0, -1).map(() => 1), channels]);
      expectSameBits(both(() => tf.add(x, b4), tf.Add).got, added.want, 'x + bias [1, ..., C]');
      expect(both(() => tf.add(b, x), tf.Add).fast).toBe(0);
      expect(both(() => tf.add(x, x), tf.Add).fast).toBe(0);
      tf.dispose([x, b, b4]);
    });
  }
});

describe('Identity on wasm', () => {
  it('shares the buffer instead of copying it, and frees it only with the last tensor', () => {
    const x = tf.tensor1d([1, -0, NaN, 4]);
    resetKernelCounts();
    const y = tf.engine().runKernel(tf.Identity, { x }) as tf.Tensor;
    expect(kernelCounts()[tf.Identity].fast).toBe(1);
    expect(y.dataId).toBe(x.dataId);
    const buffers = () => tf.engine().backend.numDataIds();
    const before = buffers();
    x.dispose();
    // y still holds the data
    expect(Array.from(bits(y))).toEqual(Array.from(new Uint32Array(Float32Array.from([1, -0, NaN, 4]).buffer)));
    expect(buffers()).toBe(before);
    y.dispose();
    expect(buffers()).toBe(before - 1);
  });
});

describe('native kernels on several threads (setNativeThreads)', () => {
  it('split an inference batch over 2 threads to the bits of 1', () => {
    const x = tf.tensor4d(values(500 * 14 * 14 * 32, 'threads x'), [500, 14, 14, 32]);
    const w = tf.tensor4d(values(3 * 3 * 32 * 64, 'threads w'), [3, 3, 32, 64]);
    const b = tf.tensor1d(values(64, 'threads b'));
    const a = tf.tensor2d(values(500 * 3136, 'threads a'), [500, 3136]);
    const m = tf.tensor2d(values(3136 * 100, 'threads m'), [3136, 100]);
    const run = () => [
      bitsOf(() => tf.fused.conv2d({ x, filter: w, strides: 1, pad: 'same', bias: b, activation: 'relu' })),
      bitsOf(() => tf.matMul(a, m)),
    ];
    const one = run();
    expect(setNativeThreads(2)).toBe(1);
    let two: Uint32Array[];
    try {
      two = run();
    } finally {
      setNativeThreads(1);
    }
    expectSameBits(two[0], one[0], 'fused conv2d on 2 threads');
    expectSameBits(two[1], one[1], 'matMul on 2 threads');
    expect(() => native.setThreads(0)).toThrow('setThreads takes a whole number from 1 to 8');
    tf.dispose([x, w, b, a, m]);
  });
});
