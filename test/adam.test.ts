/**
 * The trainer's Adam (pipeline/ml/adam.ts: one fused WebAssembly SIMD pass per variable on wasm,
 * pipeline/tfjs/wasm-adam.ts) against tfjs's own AdamOptimizer: the same bits, weights and state,
 * step after step, including sizes that are not a multiple of the SIMD width, a variable without
 * a gradient, and a resume through getWeights/setWeights.
 */
import seedrandom from 'seedrandom';
import { beforeAll, describe, expect, it } from 'vitest';
import { adam, applyShardMean } from '../pipeline/ml/adam.js';
import { setNativeKernels } from '../pipeline/tfjs/native-kernels.js';
import { initTf } from '../pipeline/tfjs/backend.js';
import { tf } from '../pipeline/tfjs/tf.js';

// the book's dense kernel, a conv bias, and odd sizes (tails of 1 to 3 elements after the SIMD part)
const SHAPES = [[3136, 100], [32], [7], [3, 5], [2], [1]];
const STEPS = 6;

beforeAll(async () => {
  await initTf('wasm');
});

function values(n: number, seed: string, scale: number): Float32Array {
  const rng = seedrandom.alea(seed);
  // some exact zeros: a zero gradient is common after relu, and the update must stay finite
  return Float32Array.from({ length: n }, () => (rng() < 0.1 ? 0 : (rng() * 2 - 1) * scale));
}

/** Trains fresh variables with `optimizer` for `steps` steps; returns every weight and state byte. */
async function run(optimizer: tf.Optimizer, steps: number, tag: string, skip?: number): Promise<Buffer> {
  const vars = SHAPES.map((shape, i) => tf.variable(tf.tensor(values(shape.reduce((a, b) => a * b), `w${i}`, 0.1), shape), true, `${tag}-${i}`));
  for (let step = 0; step < steps; step++) {
    const grads: tf.NamedTensorMap = {};
    vars.forEach((v, i) => {
      // one variable gets a null gradient on the first steps: Adam skips it but creates its state
      grads[v.name] = i === skip && step < 2 ? (null as unknown as tf.Tensor) : tf.tensor(values(v.size, `g${i} ${step}`, step === 0 ? 1e-3 : 1), v.shape);
    });
    optimizer.applyGradients(grads);
    tf.dispose(Object.values(grads).filter((g) => g != null));
  }
  const state = await optimizer.getWeights();
  const bytes = Buffer.concat([...vars, ...state.map((s) => s.tensor)].map((t) => Buffer.from((t.dataSync() as Float32Array).buffer)));
  tf.dispose(vars);
  return bytes;
}

describe("the trainer's Adam", () => {
  it('gives the bits of tfjs AdamOptimizer on wasm, weights and state, after every step', async () => {
    await tf.setBackend('wasm');
    for (const steps of [1, STEPS]) {
      const ours = adam(0.001);
      const theirs = tf.train.adam(0.001);
      const a = await run(ours, steps, `ours${steps}`, 2);
      const b = await run(theirs, steps, `theirs${steps}`, 2);
      expect(a.length).toBe(b.length);
      expect(a.equals(b)).toBe(true);
      ours.dispose();
      theirs.dispose();
    }
  });

  it('keeps tfjs learning rate and defaults, and leaks nothing', async () => {
    await tf.setBackend('wasm');
    const ours = adam(0.01);
    const theirs = tf.train.adam(0.01);
    expect(ours.getConfig()).toEqual(theirs.getConfig());
    expect(ours.getClassName()).toBe('Adam');
    // tensors and wasm buffers added by STEPS steps after the first (which creates the moments)
    const growth = (optimizer: tf.Optimizer, tag: string) => {
      const vars = SHAPES.map((shape, i) => tf.variable(tf.zeros(shape), true, `${tag}-${i}`));
      const grads: tf.NamedTensorMap = Object.fromEntries(vars.map((v, i) => [v.name, tf.tensor(values(v.size, `g${i}`, 1), v.shape)]));
      optimizer.applyGradients(grads);
      const tensors = tf.memory().numTensors;
      const buffers = tf.engine().backend.numDataIds();
      for (let k = 0; k < STEPS; k++) optimizer.applyGradients(grads);
      const grew = [tf.memory().numTensors - tensors, tf.engine().backend.numDataIds() - buffers];
      tf.dispose([...vars, ...Object.values(grads)]);
      return grew;
    };
    expect(growth(ours, 'ours')).toEqual([0, 0]);
    expect(growth(theirs, 'theirs')).toEqual([0, 0]);
    // the comparison above can fail: another learning rate gives other bits
    expect((await run(adam(0.002), 1, 'lr2')).equals(await run(tf.train.adam(0.001), 1, 'lr1'))).toBe(false);
    ours.dispose();
    theirs.dispose();
  });

  it('resumes from getWeights/setWeights to the same bits as an uninterrupted run', async () => {
    await tf.setBackend('wasm');
    const uninterrupted = await run(tf.train.adam(), STEPS, 'u');
    const first = adam();
    const vars = SHAPES.map((shape, i) => tf.variable(tf.tensor(values(shape.reduce((a, b) => a * b), `w${i}`, 0.1), shape), true, `r-${i}`));
    const step = (opt: tf.Optimizer, k: number) => {
      const grads: tf.NamedTensorMap = Object.fromEntries(vars.map((v, i) => [v.name, tf.tensor(values(v.size, `g${i} ${k}`, k === 0 ? 1e-3 : 1), v.shape)]));
      opt.applyGradients(grads);
      tf.dispose(Object.values(grads));
    };
    for (let k = 0; k < 3; k++) step(first, k);
    const saved = (await first.getWeights()).map((w) => ({ name: w.name, tensor: tf.clone(w.tensor) }));
    first.dispose();
    const second = adam();
    await second.setWeights(saved);
    for (let k = 3; k < STEPS; k++) step(second, k);
    const state = await second.getWeights();
    const bytes = Buffer.concat([...vars, ...state.map((s) => s.tensor)].map((t) => Buffer.from((t.dataSync() as Float32Array).buffer)));
    expect(bytes.equals(uninterrupted)).toBe(true);
    tf.dispose(vars);
    second.dispose();
  });
});

describe("the trainer's Adam on the mean of a batch's shards (native kernels)", () => {
  it('gives the bits of tf.mul/tf.add in shard order and tfjs AdamOptimizer, with gradients as tensors or shared arrays', async () => {
    await tf.setBackend('wasm');
    for (const shards of [1, 2, 3]) {
      const scales = [[1], [16 / 32, 16 / 32], [11 / 32, 11 / 32, 10 / 32]][shards - 1];
      const step = (k: number, s: number) => SHAPES.map((shape, i) => values(shape.reduce((a, b) => a * b), `s${s} g${i} ${k}`, k === 0 ? 1e-3 : 1));
      const make = (tag: string) => SHAPES.map((shape, i) => tf.variable(tf.tensor(values(shape.reduce((a, b) => a * b), `w${i}`, 0.1), shape), true, `${tag}-${shards}-${i}`));
      const ours = adam(0.001);
      const theirs = tf.train.adam(0.001);
      const mine = make('fused-shards');
      const ref = make('tf-shards');
      for (let k = 0; k < STEPS; k++) {
        const raw = Array.from({ length: shards }, (_, s) => step(k, s));
        // odd shards as tensors, even ones as plain arrays (a worker's, read from shared memory)
        const lists = raw.map((g, s) => ({ grads: g.map((a, i) => (s % 2 === 1 ? tf.tensor(a, SHAPES[i]) : a)), scale: scales[s] }));
        expect(applyShardMean(ours, mine.map((v) => v.name), lists)).toBe(true);
        tf.dispose(lists.flatMap((l) => l.grads.filter((g): g is tf.Tensor => g instanceof tf.Tensor)));
        tf.tidy(() => {
          const mean: tf.NamedTensorMap = {};
          ref.forEach((v, i) => {
            mean[v.name] = raw.map((g, s) => tf.mul(tf.tensor(g[i], SHAPES[i]), scales[s])).reduce((a, b) => tf.add(a, b));
          });
          (theirs as tf.Optimizer).applyGradients(mean);
        });
      }
      const bytes = async (vars: tf.Variable[], o: tf.Optimizer) =>
        Buffer.concat([...vars, ...(await o.getWeights()).map((w) => w.tensor)].map((t) => Buffer.from((t.dataSync() as Float32Array).buffer)));
      const a = await bytes(mine, ours);
      const b = await bytes(ref, theirs);
      expect(a.length).toBe(b.length);
      expect(a.equals(b), `${shards} shard(s)`).toBe(true);
      tf.dispose([...mine, ...ref]);
      ours.dispose();
      theirs.dispose();
    }
  });

  it('declines where it cannot fuse (another optimizer, the native kernels off), changing nothing', async () => {
    await tf.setBackend('wasm');
    const v = tf.variable(tf.ones([5]), true, 'declined');
    const list = [{ grads: [Float32Array.from([1, 2, 3, 4, 5])], scale: 1 }];
    expect(applyShardMean(tf.train.adam(0.001), [v.name], list)).toBe(false);
    setNativeKernels(false);
    try {
      expect(applyShardMean(adam(0.001), [v.name], list)).toBe(false);
    } finally {
      setNativeKernels(true);
    }
    expect(Array.from(v.dataSync())).toEqual([1, 1, 1, 1, 1]);
    v.dispose();
  });
});
