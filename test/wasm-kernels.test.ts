/**
 * The project's wasm training kernels against the cpu backend's reference implementations, on
 * random shapes, values and gradients. Both backends live in this one process: every computation
 * creates its tensors on the backend it runs on, and results cross over as typed arrays.
 *
 * Error measure: max |wasm - cpu| / max |cpu| over the whole tensor (a relative error per element
 * means nothing where the reference is 0, and after a relu most of it is).
 */
import seedrandom from 'seedrandom';
import { runCli } from './helpers.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadFashionMnist } from '../pipeline/catalog/dataset.js';
import { buildModel } from '../pipeline/ml/model.js';
import { gatherImages, gatherLabels } from '../pipeline/data/split.js';
import { tf } from '../pipeline/tfjs/tf.js';
import { initTf } from '../pipeline/tfjs/backend.js';
import { createTrainer } from '../pipeline/ml/parallel-trainer.js';
import { adam } from '../pipeline/ml/adam.js';
import { evaluate, trainBatch } from '../pipeline/ml/trainer.js';
import { WASM_TRAINING_KERNELS, wasmTrainingKernel } from '../pipeline/tfjs/wasm-kernels.js';
import { kernelCounts, resetKernelCounts, type KernelCount } from '../pipeline/tfjs/kernel-counters.js';
import { nativeKernels, setNativeKernels } from '../pipeline/tfjs/native-kernels.js';

const TOLERANCE = 1e-4;
/** Tensors tfjs 4.22 clones for the backward pass of one shard of the book's model (engine.saveTensorsForBackwardMode). */
const IDENTITY_PER_SHARD = 47;
const DEBIAN_DIR = '/usr/share/datasets/fashion-mnist';

type Backend = 'cpu' | 'wasm';
type Pad = 'same' | 'valid' | tf.backend_util.ExplicitPadding;

beforeAll(async () => {
  await initTf('wasm');
});

/** Runs f on one backend and returns its outputs as plain arrays; nothing stays allocated. */
async function on(backend: Backend, f: () => tf.Tensor | tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const before = tf.memory().numTensors;
  const out = tf.tidy(f);
  const list = Array.isArray(out) ? out : [out];
  const values = list.map((t) => Float32Array.from(t.dataSync()));
  tf.dispose(list);
  expect(tf.memory().numTensors).toBe(before);
  return values;
}

/** Runs f on both backends and checks every output against cpu. */
async function compare(f: () => tf.Tensor | tf.Tensor[]): Promise<number> {
  const ref = await on('cpu', f);
  const got = await on('wasm', f);
  expect(got.length).toBe(ref.length);
  let worst = 0;
  for (let i = 0; i < ref.length; i++) {
    expect(got[i].length).toBe(ref[i].length);
    worst = Math.max(worst, relError(got[i], ref[i]));
  }
  expect(worst).toBeLessThanOrEqual(TOLERANCE);
  return worst;
}

function relError(got: Float32Array, ref: Float32Array): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) {
    // NaN in either one is a mismatch unless both are NaN.
    if (Number.isNaN(got[i]) !== Number.isNaN(ref[i])) return Infinity;
    if (Number.isNaN(ref[i])) continue;
    diff = Math.max(diff, Math.abs(got[i] - ref[i]));
    scale = Math.max(scale, Math.abs(ref[i]));
  }
  if (scale === 0) return diff === 0 ? 0 : Infinity;
  return diff / scale;
}

/** Seeded values: 'normal' spread over [-1, 1]; 'ties' mostly 0 with a few repeated levels. */
function values(n: number, seed: string, kind: 'normal' | 'ties' = 'normal'): Float32Array {
  const rng = seedrandom.alea(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = kind === 'normal' ? rng() * 2 - 1 : Math.max(0, Math.floor(rng() * 6) - 3) * 0.5;
  }
  return out;
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const t4 = (data: Float32Array, shape: number[]) => tf.tensor4d(data, shape as [number, number, number, number]);

interface ConvCase {
  x: [number, number, number, number];
  kernel: [number, number];
  outChannels: number;
  strides: number | [number, number];
  pad: Pad;
}

const CONV_CASES: ConvCase[] = [
  // The book's two layers. The second at batch 4, not the training batch of 32: the kernels have
  // no path that depends on the batch (it only lengthens the patch matrix), while the cpu
  // reference's loops cost about 35 s per case at 32. The first layer keeps batch 32, so one
  // comparison still runs at the training batch's size.
  { x: [32, 28, 28, 1], kernel: [3, 3], outChannels: 32, strides: 1, pad: 'same' },
  { x: [4, 14, 14, 32], kernel: [3, 3], outChannels: 64, strides: 1, pad: 'same' },
  { x: [1, 14, 14, 64], kernel: [3, 3], outChannels: 32, strides: 1, pad: 'same' },
  { x: [1, 9, 7, 3], kernel: [3, 3], outChannels: 5, strides: 1, pad: 'valid' },
  { x: [3, 11, 13, 3], kernel: [5, 5], outChannels: 32, strides: 1, pad: 'same' },
  // even kernels pad 'same' unevenly (0 above, 1 below)
  { x: [2, 6, 7, 3], kernel: [2, 2], outChannels: 4, strides: 1, pad: 'same' },
  { x: [2, 10, 7, 1], kernel: [2, 3], outChannels: 3, strides: 1, pad: 'valid' },
  // kernels wider than the image: every patch row is mostly padding
  { x: [2, 4, 2, 3], kernel: [5, 5], outChannels: 2, strides: 1, pad: 'same' },
  { x: [1, 5, 1, 1], kernel: [3, 5], outChannels: 3, strides: 1, pad: 'same' },
  // strides other than 1: the input gradient falls back to the backend's own kernel
  { x: [2, 9, 9, 3], kernel: [3, 3], outChannels: 4, strides: 2, pad: 'same' },
  { x: [2, 10, 7, 1], kernel: [2, 3], outChannels: 2, strides: [2, 1], pad: 'valid' },
  // explicit padding, wider than the kernel on one side (another fallback)
  { x: [2, 8, 8, 3], kernel: [3, 3], outChannels: 4, strides: 1, pad: [[0, 0], [2, 1], [0, 3], [0, 0]] },
];

const label = (c: { x: number[]; pad: Pad; strides: number | number[] }) =>
  `x ${c.x.join('x')}, strides ${c.strides}, pad ${JSON.stringify(c.pad)}`;

describe('registration', () => {
  it('puts the training kernels on the wasm backend', () => {
    expect([...WASM_TRAINING_KERNELS].sort()).toEqual([
      'Add', 'BatchMatMul', 'Conv2D', 'Conv2DBackpropFilter', 'Conv2DBackpropInput', 'FusedConv2D', 'Identity', 'MaxPoolGrad', 'Sum', '_FusedMatMul',
    ]);
    // the very config we registered: the backend's own kernels give the same numbers, slower
    for (const name of WASM_TRAINING_KERNELS) expect(tf.getKernel(name, 'wasm'), name).toBe(wasmTrainingKernel(name));
    expect(tf.getBackend()).toBe('wasm');
  });
});

/** One kernel's counts without the passthroughs (what the backend runs as it is, e.g. BatchMatMul's plain products of packed operands). */
const fastAndFallback = ({ fast, fallback, reasons }: KernelCount) => ({ fast, fallback, reasons });

describe('conv2d gradients match cpu', () => {
  for (const c of CONV_CASES) {
    const filterShape = [c.kernel[0], c.kernel[1], c.x[3], c.outChannels] as [number, number, number, number];
    const key = label(c);
    const xv = values(size(c.x), `x ${key}`);
    const wv = values(size(filterShape), `w ${key}`);

    it(`through tf.grad: ${key}, kernel ${c.kernel.join('x')} -> ${c.outChannels}`, async () => {
      // a random upstream gradient, so that every output position weighs differently
      const outShape = tf.backend_util.computeConv2DInfo(c.x, filterShape, c.strides, 1, c.pad).outShape;
      const gv = values(size(outShape), `dy ${key}`);
      await compare(() => {
        const g = t4(gv, outShape);
        const grads = tf.grads((x, w) => tf.sum(tf.mul(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, c.strides, c.pad), g)));
        return grads([t4(xv, c.x), t4(wv, filterShape)]);
      });
    });

    it(`raw kernels: ${key}`, async () => {
      const outShape = tf.backend_util.computeConv2DInfo(c.x, filterShape, c.strides, 1, c.pad).outShape;
      const gv = values(size(outShape), `raw dy ${key}`);
      await compare(() => {
        const dy = t4(gv, outShape);
        const attrs = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC' };
        return [
          tf.engine().runKernel(tf.Conv2DBackpropFilter, { x: t4(xv, c.x), dy }, { ...attrs, filterShape }) as tf.Tensor,
          tf.engine().runKernel(tf.Conv2DBackpropInput, { dy, filter: t4(wv, filterShape) }, { ...attrs, inputShape: c.x }) as tf.Tensor,
        ];
      });
    });
  }
});

interface PoolCase {
  x: [number, number, number, number];
  size: number;
  strides: number;
  pad: 'same' | 'valid';
}

const POOL_CASES: PoolCase[] = [
  // the book's two layers
  { x: [32, 28, 28, 32], size: 2, strides: 2, pad: 'valid' },
  { x: [32, 14, 14, 64], size: 2, strides: 2, pad: 'valid' },
  { x: [1, 6, 6, 64], size: 2, strides: 2, pad: 'same' },
  // odd sizes: 'valid' drops the last row and column, 'same' pads them
  { x: [1, 7, 7, 3], size: 2, strides: 2, pad: 'valid' },
  { x: [2, 7, 5, 3], size: 2, strides: 2, pad: 'same' },
  { x: [32, 7, 7, 1], size: 2, strides: 2, pad: 'same' },
  // overlapping windows: gradients add up where windows share an element
  { x: [2, 9, 9, 1], size: 3, strides: 1, pad: 'same' },
  { x: [2, 8, 8, 32], size: 3, strides: 2, pad: 'valid' },
  { x: [1, 9, 9, 3], size: 2, strides: 1, pad: 'valid' },
];

describe('maxPool gradient matches cpu, ties included', () => {
  for (const c of POOL_CASES) {
    for (const kind of ['ties', 'normal'] as const) {
      it(`through tf.grad: ${label(c)}, window ${c.size}, ${kind} values`, async () => {
        const key = `${label(c)} ${c.size} ${kind}`;
        const xv = values(size(c.x), `x ${key}`, kind);
        const outShape = tf.backend_util.computePool2DInfo(c.x, c.size, c.strides, 1, c.pad).outShape;
        const gv = values(size(outShape), `dy ${key}`);
        await compare(() => {
          const g = t4(gv, outShape);
          const grad = tf.grad((x) => tf.sum(tf.mul(tf.maxPool(x as tf.Tensor4D, c.size, c.strides, c.pad), g)));
          return grad(t4(xv, c.x));
        });
      });
    }
  }

  it('gives a tied window ONE gradient, at its first element in row-major order, as cpu does', async () => {
    // three 2x2 windows side by side: all zero (a dead relu); 5 three times; NaN, then 3 twice
    const x = new Float32Array([
      0, 0, 1, 5, NaN, 2,
      0, 0, 5, 5, 3, 3,
    ]);
    const poolGrad = () =>
      tf.engine().runKernel(
        tf.MaxPoolGrad,
        { dy: tf.tensor4d([10, 20, 30], [1, 1, 3, 1]), input: t4(x, [1, 2, 6, 1]), output: tf.zeros([1, 1, 3, 1]) },
        { filterSize: 2, strides: 2, pad: 'valid' },
      ) as tf.Tensor;
    const [cpu] = await on('cpu', poolGrad);
    const [wasm] = await on('wasm', poolGrad);
    const expected = new Array(12).fill(0);
    expected[0] = 10; // row 0, col 0
    expected[3] = 20; // row 0, col 3: the first 5
    expected[10] = 30; // row 1, col 4: NaN never wins, the first 3 does
    expect(Array.from(cpu)).toEqual(expected);
    expect(Array.from(wasm)).toEqual(expected);
  });

  it('2x2 windows of 4 channels and more (the SIMD path): ties, NaN and -Infinity exactly as cpu', async () => {
    // channels 8 and 12: whole SIMD vectors of 4; mostly ties (0 and a few repeated levels)
    for (const shape of [[2, 4, 6, 8], [1, 2, 4, 12]] as [number, number, number, number][]) {
      const xv = values(size(shape), `simd pool ${shape}`, 'ties');
      for (let i = 0; i < xv.length; i += 7) xv[i] = Number.NEGATIVE_INFINITY;
      for (let i = 3; i < xv.length; i += 11) xv[i] = NaN;
      // a window of only -Infinity, and one of only NaN, in channel 1 of the first window
      for (const at of [0, 1, shape[2], shape[2] + 1]) xv[at * shape[3] + 1] = Number.NEGATIVE_INFINITY;
      for (const at of [2, 3, shape[2] + 2, shape[2] + 3]) xv[at * shape[3] + 2] = NaN;
      const outShape = tf.backend_util.computePool2DInfo(shape, 2, 2, 1, 'valid').outShape;
      const gv = values(size(outShape), `simd pool dy ${shape}`);
      const poolGrad = () =>
        tf.engine().runKernel(tf.MaxPoolGrad, { dy: t4(gv, outShape), input: t4(xv, shape), output: tf.zeros(outShape) }, { filterSize: 2, strides: 2, pad: 'valid' }) as tf.Tensor;
      const [cpu] = await on('cpu', poolGrad);
      resetKernelCounts();
      const [wasm] = await on('wasm', poolGrad);
      expect(fastAndFallback(kernelCounts()[tf.MaxPoolGrad])).toEqual({ fast: 1, fallback: 0, reasons: {} });
      // the same element of each window, bit for bit (+0 where cpu has 0)
      expect(Array.from(wasm)).toEqual(Array.from(cpu));
      expect(wasm[1]).toBe(0); // the window of only -Infinity got nothing
      expect(wasm[2]).toBe(0);
    }
  });

  it('raw kernel with -Infinity and NaN windows matches cpu', async () => {
    const shape: [number, number, number, number] = [2, 6, 5, 3];
    const xv = values(size(shape), 'inf', 'ties');
    for (let i = 0; i < xv.length; i += 7) xv[i] = Number.NEGATIVE_INFINITY;
    for (let i = 3; i < xv.length; i += 11) xv[i] = NaN;
    for (const [filterSize, strides, pad] of [[2, 2, 'valid'], [3, 1, 'same'], [2, 2, 'same']] as const) {
      const outShape = tf.backend_util.computePool2DInfo(shape, filterSize, strides, 1, pad).outShape;
      const gv = values(size(outShape), `inf dy ${filterSize}`);
      await compare(() =>
        tf.engine().runKernel(
          tf.MaxPoolGrad,
          { dy: t4(gv, outShape), input: t4(xv, shape), output: tf.zeros(outShape) },
          { filterSize, strides, pad },
        ) as tf.Tensor,
      );
    }
  });
});

describe('matMul with transposed operands matches cpu', () => {
  const cases: [number[], number[], boolean, boolean][] = [
    [[32, 3136], [32, 100], true, false], // the dense layer's dW
    [[32, 100], [3136, 100], false, true], // the dense layer's dx
    [[7, 5], [3, 7], true, true],
    [[1, 6, 4], [1, 6, 3], true, false], // rank 3, one batch
    [[4, 6, 5], [4, 3, 6], true, true], // batched: the backend's own kernel
    [[9, 25], [25, 4], false, false],
  ];
  for (const [sa, sb, ta, tb] of cases) {
    it(`${sa.join('x')} x ${sb.join('x')}, transposeA ${ta}, transposeB ${tb}`, async () => {
      const av = values(size(sa), `a ${sa} ${sb}`);
      const bv = values(size(sb), `b ${sa} ${sb}`);
      await compare(() => {
        const a: tf.Tensor = tf.tensor(av, sa);
        const b: tf.Tensor = tf.tensor(bv, sb);
        return tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, ta, tb);
      });
    });
  }
});

/** Runs f with the native kernels switched off: the XNNPACK paths a machine without them takes. */
async function withoutNative<T>(f: () => Promise<T> | T): Promise<T> {
  setNativeKernels(false);
  try {
    return await f();
  } finally {
    setNativeKernels(true);
  }
}

describe('plain matMul without the native kernels: which operand XNNPACK packs', () => {
  it("swaps a new right-hand operand that costs more to pack than the left, to the backend's bits, and never one XNNPACK holds", () => withoutNative(async () => {
    await tf.setBackend('wasm');
    const cases: [number[], number[], 'fast' | 'passthrough'][] = [
      [[16, 3136], [3136, 100], 'fast'], // a shard's dense forward: W is new after every Adam step
      [[9, 12544], [12544, 32], 'fast'], // conv2d's filter-gradient product at a shard of 16
      [[288, 3136], [3136, 64], 'passthrough'], // conv2d_1's: the left operand is the larger
      [[500, 3136], [3136, 100], 'passthrough'], // evaluation's batch of 500
    ];
    for (const [sa, sb, first] of cases) {
      const a = tf.tensor2d(values(size(sa), `plain a ${sa}`), sa as [number, number]);
      const b = tf.tensor2d(values(size(sb), `plain b ${sb}`), sb as [number, number]);
      resetKernelCounts();
      const once = tf.matMul(a, b);
      expect(kernelCounts()[tf.BatchMatMul][first], `${sa} x ${sb}`).toBe(1);
      // the same b again: packed now when it went to XNNPACK as it is; a swapped one is swapped again
      const twice = tf.matMul(a, b);
      // the backend's own product, bit for bit: a's rows inside a batch of 600 more, which no
      // cost model swaps (XNNPACK computes each row alike, summing over k in order)
      const direct = tf.tidy(() => tf.slice(tf.matMul(tf.concat([a, tf.zeros([600, sa[1]])]), b), [0, 0], [sa[0], sb[1]]));
      const bits = (t: tf.Tensor) => Buffer.from((t.dataSync() as Float32Array).buffer);
      expect(bits(once).equals(bits(twice))).toBe(true);
      expect(bits(once).equals(bits(direct))).toBe(true);
      const ref = await on('cpu', () => tf.matMul(tf.tensor2d(a.dataSync() as Float32Array, sa as [number, number]), tf.tensor2d(b.dataSync() as Float32Array, sb as [number, number])));
      await tf.setBackend('wasm');
      expect(relError(once.dataSync() as Float32Array, ref[0])).toBeLessThanOrEqual(TOLERANCE);
      tf.dispose([a, b, once, twice, direct]);
    }
  }));
});

describe('kernel counters', () => {
  const x = () => t4(values(2 * 9 * 9 * 3, 'counted x'), [2, 9, 9, 3]);
  const w = () => t4(values(3 * 3 * 3 * 4, 'counted w'), [3, 3, 3, 4]);
  const convGrad = (kernel: string, strides: number, pad: Pad) => () => {
    const attrs = { strides, pad, dataFormat: 'NHWC' };
    const outShape = tf.backend_util.computeConv2DInfo([2, 9, 9, 3], [3, 3, 3, 4], strides, 1, pad).outShape;
    const dy = t4(values(size(outShape), 'counted dy'), outShape);
    return kernel === tf.Conv2DBackpropFilter
      ? (tf.engine().runKernel(kernel, { x: x(), dy }, { ...attrs, filterShape: [3, 3, 3, 4] }) as tf.Tensor)
      : (tf.engine().runKernel(kernel, { dy, filter: w() }, { ...attrs, inputShape: [2, 9, 9, 3] }) as tf.Tensor);
  };
  // 4 input channels: fewer stay on XNNPACK without asking the native kernels (conv2d.ts)
  const fused = (activation: tf.fused.Activation) => () =>
    tf.fused.conv2d({
      x: t4(values(2 * 9 * 9 * 4, 'counted x4'), [2, 9, 9, 4]),
      filter: t4(values(3 * 3 * 4 * 4, 'counted w4'), [3, 3, 4, 4]),
      strides: 1,
      pad: 'same',
      bias: tf.ones([4]),
      activation,
    });
  // an input each fast path refuses, and the reason its counter must record; `native` false runs
  // it with the native kernels off (the native filter gradient takes every stride and padding)
  const cases: [string, string, () => tf.Tensor, boolean][] = [
    [tf.Conv2DBackpropFilter, 'stride other than 1', convGrad(tf.Conv2DBackpropFilter, 2, 'same'), false],
    [tf.Conv2DBackpropFilter, 'output not as wide as the input', convGrad(tf.Conv2DBackpropFilter, 1, 'valid'), false],
    [tf.Conv2DBackpropInput, 'stride other than 1', convGrad(tf.Conv2DBackpropInput, 2, 'same'), true],
    [tf.Conv2DBackpropInput, 'padding wider than the kernel', convGrad(tf.Conv2DBackpropInput, 1, [[0, 0], [2, 1], [0, 3], [0, 0]]), true],
    [tf.MaxPoolGrad, 'not 2x2 windows tiling the input', () => tf.grad((v) => tf.sum(tf.maxPool(v as tf.Tensor4D, 3, 1, 'same')))(x()), true],
    [
      tf.BatchMatMul,
      'batched (outer size > 1)',
      () => tf.matMul(tf.tensor3d(values(60, 'a'), [2, 6, 5]), tf.tensor3d(values(36, 'b'), [2, 3, 6]), true, true),
      true,
    ],
    [tf.FusedConv2D, 'activation relu6', fused('relu6'), true],
    [tf.FusedConv2D, 'activation sigmoid', fused('sigmoid'), true],
    [
      tf._FusedMatMul,
      'transposed',
      () => tf.fused.matMul({ a: tf.tensor2d(values(15, 'a'), [5, 3]), b: tf.tensor2d(values(12, 'b'), [4, 3]), transposeB: true, bias: tf.ones([4]) }),
      true,
    ],
  ];
  for (const [kernel, reason, run, native] of cases) {
    it(`${kernel} counts a fallback when its fast path refuses the input: ${reason}${native ? '' : ' (native kernels off)'}`, async () => {
      await tf.setBackend('wasm');
      setNativeKernels(native);
      resetKernelCounts();
      try {
        tf.tidy(() => {
          run().dataSync();
        });
      } finally {
        setNativeKernels(true);
      }
      const counts = kernelCounts();
      expect(fastAndFallback(counts[kernel])).toEqual({ fast: 0, fallback: 1, reasons: { [reason]: 1 } });
      // and nothing else fell back on the way
      expect(Object.values(counts).reduce((n, c) => n + c.fallback, 0)).toBe(1);
    });
  }

  it('resets to zeros, with every project kernel listed', async () => {
    await tf.setBackend('wasm');
    tf.tidy(() => {
      tf.matMul(tf.ones([2, 3]), tf.ones([2, 3]), true, false).dataSync();
    });
    expect(kernelCounts()[tf.BatchMatMul].fast).toBeGreaterThan(0);
    resetKernelCounts();
    const zero = { fast: 0, fallback: 0, passthrough: 0, reasons: {} };
    expect(kernelCounts()).toEqual(Object.fromEntries(WASM_TRAINING_KERNELS.map((name) => [name, zero])));
  });
});

describe("the book's model on wasm", () => {
  let images: Float32Array;
  let labels: Int32Array;
  /** 1,100 other test images: 3 evaluation batches (500, 500, 100) */
  let validation: { x: Float32Array; y: Int32Array };
  beforeAll(async () => {
    const { test } = await loadFashionMnist(DEBIAN_DIR);
    const indices = Array.from({ length: 64 }, (_, i) => i * 97);
    images = gatherImages(test.images, indices);
    labels = gatherLabels(test.labels, indices);
    const held = Array.from({ length: 1100 }, (_, i) => 8000 + i);
    validation = { x: gatherImages(test.images, held), y: gatherLabels(test.labels, held) };
  });

  it('computes the same gradients as cpu for a batch of real images', async () => {
    // 4 images: the cpu reference's conv2d_1 gradients cost about 1 s per image
    const n = 4;
    const grads = () => {
      const model = buildModel(7);
      const x = tf.tensor4d(images.subarray(0, n * 784), [n, 28, 28, 1]);
      const y = tf.oneHot(tf.tensor1d(labels.subarray(0, n), 'int32'), 10);
      const vars = model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
      const loss = () => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: false }) as tf.Tensor) as tf.Scalar;
      const { grads: g } = tf.variableGrads(loss, vars);
      const out = vars.map((v) => g[v.name]);
      model.dispose();
      return out;
    };
    const ref = await on('cpu', grads);
    const got = await on('wasm', grads);
    expect(got.map((g) => g.length)).toEqual([288, 32, 18432, 64, 313600, 100, 1000, 10]);
    for (let i = 0; i < ref.length; i++) expect(relError(got[i], ref[i])).toBeLessThanOrEqual(TOLERANCE);
  });

  /** One training step's kernel counts (2 shards of 16), with the native kernels on or off. */
  const stepCounts = (native: boolean) => {
    setNativeKernels(native);
    try {
      const model = buildModel(3);
      const optimizer = tf.train.adam();
      resetKernelCounts();
      const { loss, correct } = trainBatch(model, optimizer, images.subarray(0, 32 * 784), labels.subarray(0, 32), 3);
      expect(Number.isFinite(loss)).toBe(true);
      expect(correct).toBeGreaterThanOrEqual(0);
      expect(correct).toBeLessThanOrEqual(32);
      const counts = kernelCounts();
      model.dispose();
      optimizer.dispose();
      expect(Object.keys(counts).sort()).toEqual([...WASM_TRAINING_KERNELS].sort());
      return counts;
    } finally {
      setNativeKernels(true);
    }
  };
  const none = { fallback: 0, reasons: {} };

  it('takes every fast path in one training step at batch 32, and never falls back', async () => {
    await tf.setBackend('wasm');
    expect(nativeKernels()).not.toBeNull();
    const counts = stepCounts(true);
    // The step's 2 shards of 16 (trainer.ts) each take every gradient: each count is twice one pass's.
    // Every product and convolution on the native kernels, none left to the backend:
    const all = (fast: number) => ({ fast, passthrough: 0, ...none });
    // conv2d_1's forward, and its dx as a convolution; conv2d (one input channel) stays on XNNPACK
    expect(counts[tf.Conv2D]).toEqual({ fast: 4, passthrough: 2, ...none });
    expect(counts[tf.Conv2DBackpropFilter]).toEqual(all(4)); // dW of both convs
    expect(counts[tf.Conv2DBackpropInput]).toEqual(all(2)); // dx of conv2d_1 (the image needs none)
    // per shard: the dense layer's x·W, and dW and dx of both dense layers; dense_1's x·W runs as a
    // _FusedMatMul without bias or activation (tfjs-layers' K.dot), its bias added after
    expect(counts[tf.BatchMatMul]).toEqual(all(10));
    expect(counts[tf._FusedMatMul]).toEqual(all(2));
    expect(counts[tf.FusedConv2D]).toEqual(all(0));
    expect(fastAndFallback(counts[tf.MaxPoolGrad])).toEqual({ fast: 4, ...none }); // both pooling layers
    expect(fastAndFallback(counts[tf.Sum])).toEqual({ fast: 8, ...none }); // the bias gradients of conv2d, conv2d_1, dense and dense_1
    // the bias additions of all four layers (tfjs fuses none of them under the tape)
    expect(fastAndFallback(counts[tf.Add])).toEqual({ fast: 8, ...none });
    // the tensors tfjs keeps for the backward pass, shared instead of copied (identity.ts)
    expect(counts[tf.Identity]).toEqual(all(2 * IDENTITY_PER_SHARD));
  });

  it('without the native kernels, takes the XNNPACK fast paths and never falls back', async () => {
    await tf.setBackend('wasm');
    const counts = stepCounts(false);
    expect(fastAndFallback(counts[tf.Conv2DBackpropFilter])).toEqual({ fast: 4, ...none });
    expect(fastAndFallback(counts[tf.Conv2DBackpropInput])).toEqual({ fast: 2, ...none });
    expect(fastAndFallback(counts[tf.MaxPoolGrad])).toEqual({ fast: 4, ...none });
    // per shard: dW and dx of both dense layers (transposed operands), and two plain products whose
    // right-hand operand is new and larger to pack than the left (batch-mat-mul.ts): the dense
    // layer's x·W and conv2d's filter-gradient product; the rest go to XNNPACK as they are
    expect(fastAndFallback(counts[tf.BatchMatMul])).toEqual({ fast: 12, ...none });
    expect(fastAndFallback(counts[tf.Sum])).toEqual({ fast: 8, ...none });
    for (const name of [tf.Conv2D, tf.FusedConv2D, tf._FusedMatMul]) expect(counts[name].fast, name).toBe(0);
    expect(counts[tf.Conv2D].passthrough).toBe(6);
  });

  it('trains with trainBatch: the loss on a small batch goes down, step after step', async () => {
    await tf.setBackend('wasm');
    const model = buildModel(1);
    const optimizer = tf.train.adam();
    const losses: number[] = [];
    let tensorsAfterWarmup = 0;
    let dataIdsAfterWarmup = 0;
    for (let step = 0; step < 30; step++) {
      const { loss, correct } = trainBatch(model, optimizer, images, labels, step);
      losses.push(loss);
      expect(correct).toBeGreaterThanOrEqual(0);
      expect(correct).toBeLessThanOrEqual(64);
      if (step === 2) {
        tensorsAfterWarmup = tf.memory().numTensors;
        dataIdsAfterWarmup = tf.engine().backend.numDataIds();
      }
    }
    // nothing piles up per step, neither tensors nor wasm heap buffers
    expect(tf.memory().numTensors).toBe(tensorsAfterWarmup);
    expect(tf.engine().backend.numDataIds()).toBe(dataIdsAfterWarmup);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[0]).toBeGreaterThan(1.5); // about ln 10 untrained
    // memorizing 64 images: every block of 5 steps ends lower than the one before
    for (let i = 5; i < 30; i += 5) expect(Math.min(...losses.slice(i, i + 5))).toBeLessThan(Math.min(...losses.slice(i - 5, i)));
    expect(losses[29]).toBeLessThan(losses[0] * 0.5);
    model.dispose();
    optimizer.dispose();
  });

  it('trains and validates in 2 worker threads (createTrainer) to the same bits as trainBatch and evaluate on one', async () => {
    await tf.setBackend('wasm');
    const batch = 15; // uneven shards: 8 and 7
    const parallel = { model: buildModel(5), optimizer: tf.train.adam() };
    const serial = { model: buildModel(5), optimizer: tf.train.adam() };
    const weights = (m: tf.LayersModel) => m.getWeights().map((w) => Array.from(new Uint32Array((w.dataSync() as Float32Array).slice().buffer)));
    const initial = weights(serial.model);
    const trainer = await createTrainer(parallel.model, parallel.optimizer, { threads: 2, backend: 'wasm', maxBatch: batch, validation });
    try {
      expect(trainer.threads).toBe(2);
      // untrained: the worker evaluates the second batch on the weights it was sent
      expect(trainer.validate()).toEqual(evaluate(serial.model, validation.x, validation.y));
      // 4 steps of 15, then a batch of 1: shard 1 empty, its thread computes nothing
      const steps = [...Array.from({ length: 4 }, (_, i) => [i * batch, batch]), [4 * batch, 1]];
      for (const [step, [start, n]] of steps.entries()) {
        const xs = images.subarray(start * 784, (start + n) * 784);
        const ys = labels.subarray(start, start + n);
        const threaded = trainer.step(xs, ys, 100 + step);
        const one = trainBatch(serial.model, serial.optimizer, xs, ys, 100 + step);
        expect(threaded, `step ${step}`).toEqual(one);
        expect(Number.isFinite(one.loss) && one.loss > 0, `step ${step}`).toBe(true);
        expect(one.correct).toBeLessThanOrEqual(n);
        // the float32 bits of every weight, not a tolerance
        expect(weights(parallel.model), `step ${step}`).toEqual(weights(serial.model));
      }
      const trained = weights(serial.model);
      expect(trained.map((w) => w.length)).toEqual([288, 32, 18432, 64, 313600, 100, 1000, 10]);
      // validation after training: batches 0 and 2 here, 1 on the worker, the losses added in order
      const threadedVal = trainer.validate();
      const oneVal = evaluate(serial.model, validation.x, validation.y);
      expect(threadedVal).toEqual(oneVal);
      expect(oneVal.predictions).toHaveLength(1100);
      expect(oneVal.loss).toBeGreaterThan(0);
      // 5 steps of 15 images: better than the 10% of guessing, far from done
      expect(oneVal.accuracy).toBeGreaterThan(0.2);
      expect(oneVal.accuracy).toBeLessThan(0.9);
      // and it did train: every weight tensor moved from its initial values
      trained.forEach((w, i) => expect(w, `weight ${i}`).not.toEqual(initial[i]));
    } finally {
      await trainer.dispose();
      for (const m of [parallel, serial]) {
        m.model.dispose();
        m.optimizer.dispose();
      }
    }
  });

  it("with the trainer's Adam, the worker takes each step's weights from its Adam helper, and from shared memory when they were changed outside", async () => {
    await tf.setBackend('wasm');
    const batch = 32;
    const parallel = { model: buildModel(6), optimizer: adam() };
    const serial = { model: buildModel(6), optimizer: adam() };
    const weights = (m: tf.LayersModel) => m.getWeights().map((w) => Array.from(new Uint32Array((w.dataSync() as Float32Array).slice().buffer)));
    const trainer = await createTrainer(parallel.model, parallel.optimizer, { threads: 2, backend: 'wasm', maxBatch: batch, validation });
    const step = (i: number) => {
      const start = (i % 2) * batch;
      const xs = images.subarray(start * 784, (start + batch) * 784);
      const ys = labels.subarray(start, start + batch);
      expect(trainer.step(xs, ys, 200 + i), `step ${i}`).toEqual(trainBatch(serial.model, serial.optimizer, xs, ys, 200 + i));
      expect(weights(parallel.model), `step ${i}`).toEqual(weights(serial.model));
    };
    try {
      for (let i = 0; i < 3; i++) step(i);
      // the first step's weights went through shared memory; the next two came from the helper
      expect(trainer.handovers).toBe(1);
      expect(trainer.validate()).toEqual(evaluate(serial.model, validation.x, validation.y));
      expect(trainer.handovers).toBe(1);
      // earlier weights restored (as early stopping restores the best epoch's): the worker must
      // not go on with the ones it holds
      const restored = serial.model.getWeights().map((w) => w.clone());
      step(3);
      parallel.model.setWeights(restored);
      serial.model.setWeights(restored);
      tf.dispose(restored);
      expect(trainer.validate()).toEqual(evaluate(serial.model, validation.x, validation.y));
      expect(trainer.handovers).toBe(2);
      for (let i = 4; i < 6; i++) step(i);
      expect(trainer.handovers).toBe(2);
      // a step that fails on the main thread (a batch of the wrong length) while the worker
      // computes its shard and waits as the helper: the step is closed, the worker keeps the
      // weights it had, and the next step hands them over again
      expect(() => trainer.step(images.subarray(0, 100), labels.subarray(0, batch), 99)).toThrow('should have 12544 values but has 100');
      step(6);
      expect(trainer.handovers).toBe(3);
    } finally {
      await trainer.dispose();
      for (const m of [parallel, serial]) {
        m.model.dispose();
        m.optimizer.dispose();
      }
    }
  });

  for (const threads of [1, 2]) {
    it(`createTrainer without a validation set, ${threads} thread(s): validate() says what is missing`, async () => {
      await tf.setBackend('wasm');
      const model = buildModel(5);
      const optimizer = tf.train.adam();
      const trainer = await createTrainer(model, optimizer, { threads, backend: 'wasm', maxBatch: 4 });
      try {
        expect(trainer.threads).toBe(threads);
        expect(() => trainer.validate()).toThrow('validate(): this trainer was made without a validation set (createTrainer opts.validation)');
        // and the trainer still trains (a worker asked to validate would have failed and gone)
        const step = trainer.step(images.subarray(0, 4 * 784), labels.subarray(0, 4), 1);
        expect(step.loss).toBeGreaterThan(0);
        expect(step.correct).toBeLessThanOrEqual(4);
      } finally {
        await trainer.dispose();
        model.dispose();
        optimizer.dispose();
      }
    });
  }
});

describe('createTrainer when a worker cannot start', () => {
  it("rejects, naming the thread and the worker's own error", async () => {
    await tf.setBackend('wasm');
    // a layer class this thread knows and a fresh worker thread does not: the worker cannot rebuild the model
    class MainThreadOnly extends tf.layers.Layer {
      static className = 'MainThreadOnly';
      override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
        return Array.isArray(inputs) ? inputs[0] : inputs;
      }
    }
    tf.serialization.registerClass(MainThreadOnly);
    const model = buildModel(5);
    const wrapped = tf.sequential({ layers: [new MainThreadOnly({ inputShape: [28, 28, 1] }), ...model.layers] });
    const optimizer = tf.train.adam();
    try {
      await expect(createTrainer(wrapped, optimizer, { threads: 2, backend: 'wasm', maxBatch: 32 })).rejects.toThrow(
        /^training thread 1 failed to start: .*MainThreadOnly/,
      );
    } finally {
      model.dispose();
      optimizer.dispose();
    }
  });
});

describe('Sum over every axis but the last (the bias gradients)', () => {
  /** A float32 result's exact bits. */
  const bits = (v: Float32Array) => Array.from(new Uint32Array(v.slice().buffer));

  for (const shape of [[32, 28, 28, 32], [5, 3, 7]]) {
    for (const keepDims of [false, true]) {
      it(`${shape.join('x')}, keepDims ${keepDims}: the same bits as the backend's own kernel`, async () => {
        const xv = values(size(shape), `sum ${shape}`);
        const rank = shape.length;
        const leading = Array.from({ length: rank - 1 }, (_, i) => i);
        const channels = shape[rank - 1];
        resetKernelCounts();
        const [got] = await on('wasm', () => {
          const out = tf.sum(tf.tensor(xv, shape), leading, keepDims);
          expect(out.shape).toEqual(keepDims ? [...leading.map(() => 1), channels] : [channels]);
          return out;
        });
        expect(fastAndFallback(kernelCounts()[tf.Sum])).toEqual({ fast: 1, fallback: 0, reasons: {} });
        // What the backend's kernel does with these axes: transpose the summed axes innermost, then
        // sum each channel's row. A sum over the innermost axes goes to that very kernel.
        resetKernelCounts();
        const [ref] = await on('wasm', () => tf.sum(tf.transpose(tf.tensor(xv, shape), [rank - 1, ...leading]), leading.map((a) => a + 1)));
        expect(kernelCounts()[tf.Sum]).toEqual({ fast: 0, fallback: 0, passthrough: 1, reasons: {} });
        expect(bits(got)).toEqual(bits(ref));
        // Bits are a real test here: the exact sums, rounded once, differ from the float32 sums.
        const exact = Float32Array.from({ length: channels }, (_, c) => {
          let sum = 0;
          for (let o = c; o < xv.length; o += channels) sum += xv[o];
          return sum;
        });
        if (shape[0] === 32) expect(bits(exact)).not.toEqual(bits(ref));
      });
    }
  }

  it('hands a sum over the last axis, over every axis or over int32 to the backend', async () => {
    const shape = [5, 3, 7];
    const xv = values(size(shape), 'sum passthrough');
    const ints = Int32Array.from(xv, (v) => Math.round(v * 100));
    const cases: [string, () => tf.Tensor, number[]][] = [
      ['the last axis', () => tf.sum(tf.tensor(xv, shape), -1), [5, 3]],
      ['every axis', () => tf.sum(tf.tensor(xv, shape)), []],
      ['int32', () => tf.sum(tf.tensor(ints, shape, 'int32'), [0, 1]), [7]],
    ];
    for (const [what, run, outShape] of cases) {
      resetKernelCounts();
      const [out] = await on('wasm', () => {
        const t = run();
        expect(t.shape, what).toEqual(outShape);
        return t;
      });
      expect(kernelCounts()[tf.Sum], what).toEqual({ fast: 0, fallback: 0, passthrough: 1, reasons: {} });
      if (what === 'int32') {
        // integer sums are exact in any order
        const expected = Array.from({ length: 7 }, (_, c) => ints.filter((_, i) => i % 7 === c).reduce((a, b) => a + b, 0));
        expect(Array.from(out)).toEqual(expected);
      }
    }
  });
});

describe('npm run bench', () => {
  it('trains with the pipeline trainer on 1 and 3 threads (3 trains with 2), predicts, and ends with one JSON line', () => {
    // --workers, the older name of --threads; 3 is more than the 2 shards of a batch
    const r = runCli('pipeline/bench.ts', ['--backends', 'wasm', '--workers', '1,3', '--samples', '64', '--batch-size', '16', '--json']);
    expect(r.stderr).not.toMatch(/failed/);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    const out = JSON.parse(lines.at(-1) ?? '') as {
      train: { backend: string; workers: number; batch_size: number; warmup_steps: number; samples: number; samples_per_s: number }[];
      predict: { backend: string; workers: number; samples_per_s: number }[];
      data: string;
      kernel_counts: Record<string, KernelCount> | null;
      load_average: { before: number[]; after: number[] };
    };
    expect(out.train.map((t) => [t.backend, t.workers, t.batch_size, t.samples])).toEqual([
      ['wasm', 1, 16, 64],
      ['wasm', 2, 16, 64],
    ]);
    for (const t of out.train) expect(t.samples_per_s).toBeGreaterThan(0);
    // the data-parallel trainer's `replicas` is gone with it
    expect(Object.keys(out.train[0])).toEqual(['backend', 'workers', 'batch_size', 'warmup_steps', 'samples', 'seconds', 'samples_per_s', 'rounds']);
    // the default warm-up, as the table says
    expect(out.train.map((t) => t.warmup_steps)).toEqual([50, 50]);
    // inference is single-threaded wasm in every row
    expect(out.predict.map((p) => [p.backend, p.workers])).toEqual([['wasm', 1], ['wasm', 1]]);
    expect(out.predict[0].samples_per_s).toBeGreaterThan(0);
    // the run cache or Debian's copy, whichever it found first: real images, not random data
    expect(out.data).toMatch(/^Fashion-MNIST training images from \//);
    expect(out.load_average.before).toHaveLength(3);
    // the 1-thread row's 4 timed steps of 2 shards each, every shard a backward pass of the book's
    // model (the counters are per thread: in the 2-thread row the worker counts its shard in its own)
    // (as in "takes every fast path in one training step"; inference is not counted)
    const perShard: Record<string, number> = {
      Add: 4, BatchMatMul: 5, Conv2D: 2, Conv2DBackpropFilter: 2, Conv2DBackpropInput: 1, FusedConv2D: 0, Identity: IDENTITY_PER_SHARD, MaxPoolGrad: 2, Sum: 4, _FusedMatMul: 1,
    };
    expect(Object.keys(out.kernel_counts ?? {})).toEqual(Object.keys(perShard));
    for (const [name, n] of Object.entries(perShard)) {
      expect(fastAndFallback(out.kernel_counts?.[name] as KernelCount), name).toEqual({ fast: 4 * 2 * n, fallback: 0, reasons: {} });
    }
    expect(r.stdout).toContain(
      'wasm kernels over the 64 timed samples, fast/fallback: Add 32/0, BatchMatMul 40/0, Conv2D 16/0, Conv2DBackpropFilter 16/0, ' +
        `Conv2DBackpropInput 8/0, FusedConv2D 0/0, Identity ${8 * IDENTITY_PER_SHARD}/0, MaxPoolGrad 16/0, Sum 32/0, _FusedMatMul 8/0\n`,
    );
    // the table comes first, for people
    expect(r.stdout).toMatch(/backend\s+workers\s+batch\s+train samples\/s/);
    expect(r.stdout).toMatch(/\nwasm\s+2\s+16\s+\d+\.\d/);
  });

  it('rejects unknown or senseless options with exit 2', () => {
    for (const [args, message] of [
      [['--bogus'], "Unknown option '--bogus'"],
      [['--backends', 'wasm,gpu'], "unknown backend 'gpu'"],
      [['--samples', '0'], '--samples must be a whole number of at least 1'],
      [['--warmup', 'ten'], "--warmup must be a whole number of at least 1, got 'ten'"],
      [['--workers', '9'], "--workers 9 is more than 8, the most the pipeline's --threads takes"],
    ] as const) {
      const r = runCli('pipeline/bench.ts', [...args]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(message);
      expect(r.stderr).toContain('Usage: npm run bench');
    }
  });
});
