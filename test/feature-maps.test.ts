import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJson } from './helpers.js';
import { datasetFiles, loadFashionMnist } from '../pipeline/catalog/dataset.js';
import { consoleLogger } from '../pipeline/core/log.js';
import { BadInputError } from '../pipeline/core/errors.js';
import { loadModel, saveModel } from '../pipeline/catalog/model-io.js';
import { readNpy } from '../pipeline/catalog/npy.js';
import { PROFILE_DEFAULTS, type Params } from '../pipeline/core/params.js';
import { CLASS_NAMES, type FeatureIndex, type LayerMap } from '../pipeline/catalog/schema.js';
import type { Artifacts, Step } from '../pipeline/core/step.js';
import { RunStore } from '../pipeline/catalog/store.js';
import { tf } from '../pipeline/tfjs/tf.js';
import { initTf } from '../pipeline/tfjs/backend.js';
import { featureMapsStep } from '../steps/feature-maps.js';
import { weightsStep } from '../steps/weights.js';
import { linkDataset, makeFixtureRun, type FixtureRun } from './helpers/fixture-run.js';
import { pathsOf, stepContext } from './helpers/step-context.js';

const SEED = 42;
const params: Params = { ...PROFILE_DEFAULTS.quick, profile: 'quick', seed: SEED, backend: 'cpu', lang: 'en' };
const ctx = <I extends Artifacts, O extends Artifacts>(step: Step<RunStore, I, O>, store: RunStore) =>
  stepContext(step, params, store, { log: consoleLogger({ quiet: true }), backend: 'cpu' });

const MAPS: [string, number[]][] = [
  ['conv2d', [1, 28, 28, 32]],
  ['max_pooling2d', [1, 14, 14, 32]],
  ['conv2d_1', [1, 14, 14, 64]],
  ['max_pooling2d_1', [1, 7, 7, 64]],
];

let fixture: FixtureRun;
let store: RunStore;
let index: FeatureIndex;
let data: Awaited<ReturnType<typeof loadFashionMnist>>;

beforeAll(async () => {
  await initTf('cpu');
  fixture = await makeFixtureRun(SEED);
  store = fixture.store;
  // The weights step saves the kernels the independent computation below starts from.
  await weightsStep.run(ctx(weightsStep, store));
  await featureMapsStep.run(ctx(featureMapsStep, store));
  index = await readJson<FeatureIndex>(store.featureMaps.index.path);
  data = await loadFashionMnist(store.dataDir);
});
afterAll(async () => {
  await fixture?.cleanup();
});

const weightsNpy = (kind: string, layer: string, tensor: string) => readNpy(join(store.runDir, 'weights', kind, layer, `${tensor}.npy`));
const mapNpy = (file: string) => readNpy(join(store.runDir, 'feature-maps', file));

/**
 * The book's conv stack computed directly from the saved kernels and biases (not through the
 * model): conv2d + bias + relu, 2x2 max pool, twice. Returns the four maps by layer name.
 */
async function directMaps(kind: 'trained' | 'untrained', image: Float32Array): Promise<Record<string, Float32Array>> {
  const [k1, b1, k2, b2] = await Promise.all([
    weightsNpy(kind, 'conv2d', 'kernel'),
    weightsNpy(kind, 'conv2d', 'bias'),
    weightsNpy(kind, 'conv2d_1', 'kernel'),
    weightsNpy(kind, 'conv2d_1', 'bias'),
  ]);
  const outs = tf.tidy(() => {
    const x = tf.tensor4d(image, [1, 28, 28, 1]);
    const c1 = tf.relu(tf.add(tf.conv2d(x, tf.tensor4d(k1.data, k1.shape as [number, number, number, number]), 1, 'same'), tf.tensor1d(b1.data)));
    const p1 = tf.maxPool(c1 as tf.Tensor4D, 2, 2, 'valid');
    const c2 = tf.relu(tf.add(tf.conv2d(p1, tf.tensor4d(k2.data, k2.shape as [number, number, number, number]), 1, 'same'), tf.tensor1d(b2.data)));
    const p2 = tf.maxPool(c2 as tf.Tensor4D, 2, 2, 'valid');
    return [c1, p1, c2, p2];
  });
  const result = Object.fromEntries(MAPS.map(([name], i) => [name, outs[i].dataSync() as Float32Array]));
  tf.dispose(outs);
  return result;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

async function checkMaps(layers: LayerMap[], direct: Record<string, Float32Array>, prefix: string, id: string) {
  expect(layers.map((l) => [l.layer, l.shape])).toEqual(MAPS);
  for (const [i, l] of layers.entries()) {
    expect(l.file).toBe(`${prefix}${id}/${l.layer}.npy`);
    expect(l.code).toBe(`tf.model({inputs: model.inputs, outputs: model.layers[${i}].output})`);
    const npy = await mapNpy(l.file);
    expect(npy.shape).toEqual(l.shape);
    expect(maxAbsDiff(npy.data, direct[l.layer])).toBeLessThanOrEqual(1e-5);
    // Per-channel range and mean, computed here over H x W.
    const c = l.shape[3];
    expect(l.channels).toHaveLength(c);
    for (let ch = 0; ch < c; ch++) {
      const vals = npy.data.filter((_, j) => j % c === ch);
      expect(l.channels[ch].min).toBe(Math.min(...vals));
      expect(l.channels[ch].max).toBe(Math.max(...vals));
      expect(l.channels[ch].mean).toBeCloseTo(vals.reduce((a, b) => a + b, 0) / vals.length, 12);
    }
  }
}

describe('feature-maps step', () => {
  it('declares its inputs, outputs and params', () => {
    expect(featureMapsStep.name).toBe('feature-maps');
    expect(featureMapsStep.params(params)).toEqual({ seed: SEED });
    expect(pathsOf(featureMapsStep.inputs(store))).toEqual([join(store.runDir, 'checkpoint', 'model.json'), join(store.runDir, 'checkpoint', 'weights.bin'), ...datasetFiles(store.dataDir)]);
    expect(pathsOf(featureMapsStep.outputs(store))).toEqual([join(store.runDir, 'feature-maps')]);
  });

  it('takes the chapter sample (train image 0, an ankle boot) and the first test image of each class', () => {
    expect(index.samples).toHaveLength(11);
    const [boot, ...perClass] = index.samples;
    expect(boot).toMatchObject({ id: 'train-0', split: 'train', index: 0, label: 9, class_name: 'Ankle boot', image: 'train-0/image.npy' });
    perClass.forEach((s, label) => {
      const first = data.test.labels.indexOf(label);
      expect(s).toMatchObject({ id: `test-${first}`, split: 'test', index: first, label, class_name: CLASS_NAMES.en[label] });
      expect(Array.from(data.test.labels.subarray(0, first))).not.toContain(label);
    });
    expect(index.untrained.sample).toBe('train-0');
  });

  it('saves each input image as [28, 28] scaled to [0, 1]', async () => {
    for (const s of index.samples) {
      const img = await mapNpy(s.image);
      expect(img.shape).toEqual([28, 28]);
      const raw = (s.split === 'train' ? data.train : data.test).images.subarray(s.index * 784, (s.index + 1) * 784);
      expect(img.data).toEqual(Float32Array.from(raw, (v) => v / 255));
    }
  });

  it('each sub-model output equals conv2d + bias + relu and maxPool computed from the saved weights', async () => {
    for (const s of index.samples) {
      const img = await mapNpy(s.image);
      await checkMaps(s.layers, await directMaps('trained', img.data), '', s.id);
    }
  });

  it("the untrained twin's maps of the chapter sample equal the same computation from the untrained weights", async () => {
    const img = await mapNpy(index.samples[0].image);
    await checkMaps(index.untrained.layers, await directMaps('untrained', img.data), 'untrained/', 'train-0');
    // And they differ from the trained model's.
    const trained = await mapNpy(index.samples[0].layers[0].file);
    const untrained = await mapNpy(index.untrained.layers[0].file);
    expect(maxAbsDiff(trained.data, untrained.data)).toBeGreaterThan(0.01);
  });

  it("records the model's prediction and probabilities", async () => {
    const model = await loadModel(store.model.modelJson);
    try {
      for (const s of index.samples) {
        const img = await mapNpy(s.image);
        const probs = tf.tidy(() => (model.predict(tf.tensor4d(img.data, [1, 28, 28, 1])) as tf.Tensor).dataSync());
        expect(s.probabilities).toHaveLength(10);
        s.probabilities.forEach((p, i) => expect(p).toBeCloseTo(probs[i], 6));
        expect(s.probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
        expect(s.prediction).toBe(s.probabilities.indexOf(Math.max(...s.probabilities)));
      }
    } finally {
      model.dispose();
    }
  });

  it('writes nothing beyond the index, the images and the maps', async () => {
    const top = (await readdir(join(store.runDir, 'feature-maps'))).sort();
    expect(top).toEqual(['index.json', ...index.samples.map((s) => s.id), 'untrained'].sort());
    for (const s of index.samples) {
      expect((await readdir(join(store.runDir, 'feature-maps', s.id))).sort()).toEqual(['image.npy', ...MAPS.map(([n]) => `${n}.npy`)].sort());
    }
    expect(await readdir(join(store.runDir, 'feature-maps', 'untrained'))).toEqual(['train-0']);
  });

  it('a model that does not take 28 x 28 x 1 images is bad input naming model.json, and nothing is written', async () => {
    const root = await mkdtemp(join(tmpdir(), 'feature-maps-bad-'));
    try {
      const other = new RunStore(join(root, 'artifacts'), 'other');
      await linkDataset(other);
      const model = tf.sequential({ layers: [tf.layers.dense({ name: 'dense', inputShape: [784], units: 10 })] });
      await saveModel(model, other.model.modelJson);
      model.dispose();
      const err = await featureMapsStep.run(ctx(featureMapsStep, other)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BadInputError);
      expect((err as Error).message).toContain(`${other.model.modelJson} does not take Fashion-MNIST images (its input is 784, expected 28,28,1)`);
      expect(await readdir(other.runDir)).toEqual(['checkpoint']);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('leaves no tensors behind', async () => {
    const before = tf.memory().numTensors;
    await featureMapsStep.run(ctx(featureMapsStep, store));
    expect(tf.memory().numTensors).toBe(before);
  });
});
