import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { python, readJson } from './helpers.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BadInputError } from '../pipeline/core/errors.js';
import { consoleLogger } from '../pipeline/core/log.js';
import { buildModel } from '../pipeline/ml/model.js';
import { loadModel, saveModel } from '../pipeline/catalog/model-io.js';
import { readNpy } from '../pipeline/catalog/npy.js';
import { PROFILE_DEFAULTS, type Params } from '../pipeline/core/params.js';
import type { TensorStats, WeightStats } from '../pipeline/catalog/schema.js';
import { RunStore } from '../pipeline/catalog/store.js';
import { tf } from '../pipeline/tfjs/tf.js';
import { initTf } from '../pipeline/tfjs/backend.js';
import { weightsStep } from '../steps/weights.js';
import { makeFixtureRun, type FixtureRun } from './helpers/fixture-run.js';
import { pathsOf, stepContext } from './helpers/step-context.js';

const SEED = 42;
const params: Params = { ...PROFILE_DEFAULTS.quick, profile: 'quick', seed: SEED, backend: 'cpu', lang: 'en' };
const log = consoleLogger({ quiet: true });
const ctx = (store: RunStore) => stepContext(weightsStep, params, store, { log, backend: 'cpu' });
const LAYERS: Record<string, { kernel: number[]; bias: number[] }> = {
  conv2d: { kernel: [3, 3, 1, 32], bias: [32] },
  conv2d_1: { kernel: [3, 3, 32, 64], bias: [64] },
  dense: { kernel: [3136, 100], bias: [100] },
  dense_1: { kernel: [100, 10], bias: [10] },
};
const KINDS = ['trained', 'untrained'] as const;
const TENSORS = ['kernel', 'bias'] as const;


/** The values of a model's `layer/tensor` weight, read straight from tfjs. */
function weightOf(model: tf.LayersModel, layer: string, tensor: string): Float32Array {
  const w = model.getLayer(layer).weights.find((v) => v.originalName === `${layer}/${tensor}`);
  if (!w) throw new Error(`no ${layer}/${tensor}`);
  return w.read().dataSync() as Float32Array;
}

let fixture: FixtureRun;
let store: RunStore;
let stats: WeightStats;

beforeAll(async () => {
  await initTf('cpu');
  fixture = await makeFixtureRun(SEED);
  store = fixture.store;
  await weightsStep.run(ctx(store));
  stats = await readJson<WeightStats>(store.weights.index.path);
});
afterAll(async () => {
  await fixture?.cleanup();
});

describe('weights step files', () => {
  it('declares its inputs, outputs and params', () => {
    expect(weightsStep.name).toBe('weights');
    expect(weightsStep.params(params)).toEqual({ seed: SEED });
    expect(pathsOf(weightsStep.inputs(store))).toEqual([join(store.runDir, 'checkpoint', 'model.json'), join(store.runDir, 'checkpoint', 'weights.bin')]);
    expect(pathsOf(weightsStep.outputs(store))).toEqual([join(store.runDir, 'weights')]);
  });

  it('writes kernel and bias of every layer with weights, for both models, and stats.json', async () => {
    expect(Object.keys(stats.trained).sort()).toEqual(Object.keys(LAYERS).sort());
    expect(Object.keys(stats.untrained).sort()).toEqual(Object.keys(LAYERS).sort());
    expect((await readdir(join(store.runDir, 'weights'))).sort()).toEqual(['stats.json', 'trained', 'untrained']);
    for (const kind of KINDS) {
      expect((await readdir(join(store.runDir, 'weights', kind))).sort()).toEqual(Object.keys(LAYERS).sort());
    }
  });

  it('saves the trained model exactly and the untrained twin as buildModel(seed) makes it', async () => {
    const trained = await loadModel(store.model.modelJson);
    const twin = buildModel(SEED);
    try {
      for (const [layer, shapes] of Object.entries(LAYERS)) {
        for (const tensor of TENSORS) {
          for (const [kind, model] of [['trained', trained], ['untrained', twin]] as const) {
            const file = `${kind}/${layer}/${tensor}.npy`;
            expect(stats[kind][layer][tensor].file).toBe(file);
            const npy = await readNpy(join(store.runDir, 'weights', file));
            expect(npy.shape).toEqual(shapes[tensor]);
            expect(stats[kind][layer][tensor].shape).toEqual(shapes[tensor]);
            expect(npy.data).toEqual(weightOf(model, layer, tensor));
          }
        }
      }
      // The fixture really is trained: its first kernel is not the initial one.
      const diff = weightOf(trained, 'conv2d', 'kernel').map((v, i) => Math.abs(v - weightOf(twin, 'conv2d', 'kernel')[i]));
      expect(Math.max(...diff)).toBeGreaterThan(0.05);
    } finally {
      trained.dispose();
      twin.dispose();
    }
  });

  it('writes into the staging folder the runner gives it', async () => {
    const staging = await mkdtemp(join(tmpdir(), 'weights-staging-'));
    try {
      await weightsStep.run(ctx(store.withStaging('weights', staging)));
      expect((await readdir(staging)).sort()).toEqual(['stats.json', 'trained', 'untrained']);
      expect(await readJson(join(staging, 'stats.json'))).toEqual(stats);
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  });
});

/** Statistics computed the plain way, independently of pipeline/stats.ts. */
function direct(values: Float32Array) {
  const xs = Array.from(values);
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const std = Math.sqrt(xs.reduce((a, b) => a + (b - mean) * (b - mean), 0) / n);
  const sorted = [...xs].sort((a, b) => a - b);
  const pct = (p: number) => {
    const h = (n - 1) * (p / 100);
    return sorted[Math.floor(h)] + (h - Math.floor(h)) * (sorted[Math.ceil(h)] - sorted[Math.floor(h)]);
  };
  return { n, mean, std, min: sorted[0], max: sorted[n - 1], pct };
}

describe('weights statistics', () => {
  it('equal a direct computation for every tensor', async () => {
    for (const kind of KINDS) {
      for (const layer of Object.keys(LAYERS)) {
        for (const tensor of TENSORS) {
          const s = stats[kind][layer][tensor];
          const { data, shape } = await readNpy(join(store.runDir, 'weights', s.file));
          const d = direct(data);
          expect(s.count).toBe(d.n);
          expect(s.mean).toBeCloseTo(d.mean, 12);
          expect(s.std).toBeCloseTo(d.std, 12);
          expect(s.min).toBe(d.min);
          expect(s.max).toBe(d.max);
          expect(Object.keys(s.percentiles)).toEqual(['p1', 'p25', 'p5', 'p50', 'p75', 'p95', 'p99'].sort());
          for (const p of [1, 5, 25, 50, 75, 95, 99]) expect(s.percentiles[`p${p}`]).toBeCloseTo(d.pct(p), 12);

          if (tensor === 'kernel') {
            const c = shape[shape.length - 1];
            expect(s.filters).toHaveLength(c);
            for (let j = 0; j < c; j++) {
              const f = data.filter((_, i) => i % c === j);
              const fd = direct(f);
              expect(s.filters![j].mean).toBeCloseTo(fd.mean, 12);
              expect(s.filters![j].std).toBeCloseTo(fd.std, 12);
              expect(s.filters![j].l2).toBeCloseTo(Math.sqrt(f.reduce((a, v) => a + v * v, 0)), 10);
            }
          } else {
            expect(s.filters).toBeUndefined();
          }
        }
      }
    }
  });

  it('histograms add up to the tensor size and share edges between trained and untrained', () => {
    for (const layer of Object.keys(LAYERS)) {
      for (const tensor of TENSORS) {
        const t = stats.trained[layer][tensor];
        const u = stats.untrained[layer][tensor];
        expect(t.histogram.edges).toEqual(u.histogram.edges);
        expect(t.histogram.edges).toHaveLength(41);
        expect(t.histogram.counts).toHaveLength(40);
        const edges = t.histogram.edges;
        for (let i = 1; i < edges.length; i++) expect(edges[i]).toBeGreaterThan(edges[i - 1]);
        for (const s of [t, u]) expect(s.histogram.counts.reduce((a, b) => a + b, 0)).toBe(s.count);
        // The bins span both tensors (widened by 0.5 when both are one value, like numpy).
        const lo = Math.min(t.min, u.min);
        const hi = Math.max(t.max, u.max);
        expect([edges[0], edges[40]]).toEqual(lo === hi ? [lo - 0.5, hi + 0.5] : [lo, hi]);
      }
    }
  });

  it('histogram counts put each value in the bin whose edges hold it', async () => {
    for (const kind of KINDS) {
      const s = stats[kind].conv2d.kernel;
      const { data } = await readNpy(join(store.runDir, 'weights', s.file));
      const { edges, counts } = s.histogram;
      const expected = counts.map((_, b) =>
        data.filter((v) => v >= edges[b] && (b === counts.length - 1 ? v <= edges[b + 1] : v < edges[b + 1])).length,
      );
      expect(counts).toEqual(expected);
    }
  });

  it('match numpy on the saved files', () => {
    const check = (s: TensorStats) => {
      const out = JSON.parse(
        python(
          'import sys, json, numpy as np\n' +
            'a = np.load(sys.argv[1]).astype(np.float64)\n' +
            'edges = np.array(json.loads(sys.argv[2]))\n' +
            'print(json.dumps({"mean": a.mean(), "std": a.std(), "pct": np.percentile(a, [1, 5, 25, 50, 75, 95, 99]).tolist(), ' +
            '"counts": np.histogram(a, bins=edges)[0].tolist(), "edges": np.histogram_bin_edges(a, bins=40, range=(edges[0], edges[-1])).tolist()}))',
          [join(store.runDir, 'weights', s.file), JSON.stringify(s.histogram.edges)],
        ),
      ) as { mean: number; std: number; pct: number[]; counts: number[]; edges: number[] };
      expect(s.mean).toBeCloseTo(out.mean, 12);
      expect(s.std).toBeCloseTo(out.std, 12);
      [1, 5, 25, 50, 75, 95, 99].forEach((p, i) => expect(s.percentiles[`p${p}`]).toBeCloseTo(out.pct[i], 12));
      expect(s.histogram.counts).toEqual(out.counts);
      s.histogram.edges.forEach((e, i) => expect(e).toBeCloseTo(out.edges[i], 14));
    };
    for (const kind of KINDS) for (const layer of Object.keys(LAYERS)) for (const tensor of TENSORS) check(stats[kind][layer][tensor]);
  });

  it('records the Glorot-uniform limit of each conv layer', () => {
    expect(Object.keys(stats.glorot).sort()).toEqual(['conv2d', 'conv2d_1']);
    expect(stats.glorot.conv2d.fan_in).toBe(9);
    expect(stats.glorot.conv2d.fan_out).toBe(288);
    expect(stats.glorot.conv2d.limit).toBeCloseTo(Math.sqrt(6 / 297), 12);
    expect(stats.glorot.conv2d.limit).toBeCloseTo(0.1421, 4);
    expect(stats.glorot.conv2d.std).toBeCloseTo(0.0821, 4);
    expect(stats.glorot.conv2d_1).toEqual({
      fan_in: 288,
      fan_out: 576,
      limit: Math.sqrt(6 / 864),
      std: Math.sqrt(6 / 864) / Math.sqrt(3),
    });
    expect(stats.untrained_seed).toBe(SEED);
  });

  it('untrained conv2d kernel: Glorot-uniform spread; the trained one is wider', () => {
    const u = stats.untrained.conv2d.kernel;
    expect(u.std).toBeGreaterThanOrEqual(0.07);
    expect(u.std).toBeLessThanOrEqual(0.095);
    expect(Math.abs(u.min)).toBeLessThanOrEqual(stats.glorot.conv2d.limit);
    expect(u.max).toBeLessThanOrEqual(stats.glorot.conv2d.limit);
    expect(stats.trained.conv2d.kernel.std).toBeGreaterThan(u.std);
    // Biases start at zero.
    expect([stats.untrained.conv2d.bias.min, stats.untrained.conv2d.bias.max]).toEqual([0, 0]);
  });
});

describe('weights step bad input', () => {
  it('a model that is not the book CNN is bad input naming model.json, and nothing is written', async () => {
    const root = await mkdtemp(join(tmpdir(), 'weights-bad-'));
    try {
      const other = new RunStore(join(root, 'artifacts'), 'other');
      const model = tf.sequential({
        layers: [tf.layers.conv2d({ name: 'conv2d', inputShape: [28, 28, 1], filters: 8, kernelSize: 3 })],
      });
      await saveModel(model, other.model.modelJson);
      model.dispose();
      const err = await weightsStep.run(ctx(other)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BadInputError);
      expect((err as Error).message).toContain(other.model.modelJson);
      expect((err as Error).message).toMatch(/not the book's CNN: its layers with weights are conv2d\[3,3,1,8\], expected conv2d\[3,3,1,32\], conv2d_1/);
      expect(await readdir(other.runDir)).toEqual(['checkpoint']);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('a missing checkpoint is bad input naming model.json', async () => {
    const root = await mkdtemp(join(tmpdir(), 'weights-missing-'));
    try {
      const empty = new RunStore(join(root, 'artifacts'), 'empty');
      const err = await weightsStep.run(ctx(empty)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BadInputError);
      expect((err as Error).message).toContain(empty.model.modelJson);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
