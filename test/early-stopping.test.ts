/**
 * Early stopping end to end, and the per-step dropout seeds.
 *
 * 1. A small real run through the CLI whose validation loss turns up after some epoch: training
 *    stops `patience` epochs after the best one, and the checkpoint holds the best epoch's weights
 *    (byte for byte the ones saved in train/state/ for that epoch), not the last epoch's.
 * 2. The dropout mask of one training step, read off the weights that step changed: the same
 *    (seed, epoch, step) drops the same units, other steps drop other units.
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { History, Metrics } from '../pipeline/catalog/schema.js';
import { loadFashionMnist, PIXELS, TRAIN_IMAGES } from '../pipeline/catalog/dataset.js';
import { loadModel } from '../pipeline/catalog/model-io.js';
import { RunStore } from '../pipeline/catalog/store.js';
import { derivedSeed, gatherImages, gatherLabels, trainValSplit } from '../pipeline/data/split.js';
import { buildModel } from '../pipeline/ml/model.js';
import { evaluate, trainBatch } from '../pipeline/ml/trainer.js';
import { initTf } from '../pipeline/tfjs/backend.js';
import { tf } from '../pipeline/tfjs/tf.js';
import { readJson, runCli, tempDir } from './helpers.js';
import { datasetDir, linkDataset } from './helpers/fixture-run.js';

beforeAll(async () => {
  // The backend the run below trains on.
  await initTf('wasm');
});

/** A tensor's bytes as stored (little-endian float32 / int32). */
const bytesOf = (t: tf.Tensor): Buffer => {
  const data = t.dataSync() as Float32Array | Int32Array;
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
};

/** Decodes a weights file with its tf.io weight specs into name -> bytes. */
function decode(bin: string, specs: tf.io.WeightsManifestEntry[]): Map<string, Buffer> {
  const raw = readFileSync(bin);
  const tensors = tf.io.decodeWeights(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength), specs);
  const out = new Map(Object.entries(tensors).map(([name, t]) => [name, Buffer.from(bytesOf(t))]));
  tf.dispose(Object.values(tensors));
  return out;
}

/** The model weights of a saved training epoch (train/state/epoch-NNNN), named as in model.json. */
function epochWeights(stateDir: string, epoch: number): Map<string, Buffer> {
  const dir = join(stateDir, `epoch-${String(epoch).padStart(4, '0')}`);
  const meta = JSON.parse(readFileSync(join(dir, 'tensors.json'), 'utf8')) as { epoch: number; specs: tf.io.WeightsManifestEntry[] };
  expect(meta.epoch).toBe(epoch);
  const all = decode(join(dir, 'tensors.bin'), meta.specs);
  return new Map([...all].filter(([name]) => name.startsWith('model/')).map(([name, b]) => [name.slice('model/'.length), b]));
}

/** The weights of a saved layers model (model.json + its one shard). */
function modelWeights(dir: string): Map<string, Buffer> {
  const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as { weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[] };
  expect(json.weightsManifest).toHaveLength(1);
  const [{ paths, weights }] = json.weightsManifest;
  expect(paths).toHaveLength(1);
  return decode(join(dir, paths[0]), weights);
}

/** Names of the weights whose bytes differ between a and b (a and b must name the same weights). */
function differing(a: Map<string, Buffer>, b: Map<string, Buffer>): string[] {
  expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
  return [...a.keys()].filter((name) => !a.get(name)!.equals(b.get(name)!));
}

describe('early stopping through the real CLI (wasm, 64 images, batch 4)', () => {
  // Found by trying seeds locally with these settings (64 training and 8 validation images, batch
  // size 4 so an epoch is 16 Adam steps and the model overfits within a few epochs; about 16 s a
  // run): seeds 1-3 with patience 2, then 4-10 with patience 3 and at most 8 epochs. With the
  // trainer's 2 shards per batch (issue 13), seed 8's val_loss is lowest at epoch 3 (1.7179), then
  // 1.8712, 1.7369, 1.8981, so training stops after epoch 6 with epoch 3 restored, and epoch 4's
  // saved state is rotated away while the best (3) is kept. The run is deterministic for a seed on
  // one backend (wasm here), so this stays so until the training math changes again.
  const SEED = 8;
  const PATIENCE = 3;
  const EPOCHS = 8;
  const BEST = 3;
  const LAST = BEST + PATIENCE;
  const root = tempDir('cnn-lens-early-stop-');
  let store: RunStore;

  afterAll(() => rmSync(root, { recursive: true, force: true }));

  beforeAll(async () => {
    store = new RunStore(join(root, 'artifacts'), 'es');
    await linkDataset(store);
    const args = ['--profile', 'quick', '--seed', String(SEED), '--train-size', '64', '--val-size', '8', '--batch-size', '4',
      '--epochs', String(EPOCHS), '--patience', String(PATIENCE), '--backend', 'wasm', '--to', 'checkpoint', '--run', 'es', '--artifacts', store.artifacts];
    const r = runCli('pipeline/main.ts', args, { CNN_LENS_MIRRORS: '', CNN_LENS_NO_APT: '1', CNN_LENS_FAULT: '' });
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toContain(`train: early stopping after epoch ${LAST}; best epoch ${BEST} restored`);
  });

  it('stops `patience` epochs after the first minimum of val_loss, before the last allowed epoch', async () => {
    const history = await readJson<History>(join(store.finalStepDir('train'), 'history.json'));
    const losses = history.rows.map((r) => r.val_loss);
    expect(history.rows.map((r) => r.epoch)).toEqual(losses.map((_, i) => i + 1));
    const argmin = losses.indexOf(Math.min(...losses)) + 1; // the first minimum
    expect(history.best_epoch).toBe(argmin);
    expect(history.best_epoch).toBe(BEST);
    expect(history.best_epoch).toBeLessThan(history.rows.length);
    expect(history.stopped_early).toBe(true);
    expect(history.rows.length).toBe(history.best_epoch + PATIENCE);
    expect(history.rows.length).toBeLessThan(EPOCHS);

    const metrics = await readJson<Metrics>(join(store.finalStepDir('checkpoint'), 'metrics.json'));
    expect(metrics.best_epoch).toBe(history.best_epoch);
    expect(metrics.epochs_run).toBe(history.rows.length);
  });

  it("the checkpoint's validation figures are its model's, evaluated afresh on the split, to the bit", async () => {
    // checkpoint takes them from the best epoch's history row instead of evaluating again
    const metrics = await readJson<Metrics>(join(store.finalStepDir('checkpoint'), 'metrics.json'));
    const model = await loadModel(join(store.finalStepDir('checkpoint'), 'model.json'));
    const { train } = await loadFashionMnist(datasetDir());
    const { val } = trainValSplit(TRAIN_IMAGES, 64, 8, SEED);
    const fresh = evaluate(model, gatherImages(train.images, val), gatherLabels(train.labels, val));
    model.dispose();
    expect(metrics.val).toEqual({ loss: fresh.loss, accuracy: fresh.accuracy, count: 8 });
    // and they are not the last epoch's
    const history = await readJson<History>(join(store.finalStepDir('train'), 'history.json'));
    expect(fresh.loss).not.toBe(history.rows[LAST - 1].val_loss);
  });

  it('keeps the best epoch when the state rotates: the newest, the previous and the best', () => {
    const state = join(store.finalStepDir('train'), 'state');
    const folders = readdirSync(state).filter((e) => e.startsWith('epoch-')).sort();
    // Epoch BEST + 1 (neither newest, previous nor best) is gone; epoch BEST stays because it is the best.
    expect(folders).toEqual([BEST, LAST - 1, LAST].map((e) => `epoch-${String(e).padStart(4, '0')}`));
    expect(BEST).toBeLessThan(LAST - 1);
  });

  it("the checkpoint holds the best epoch's saved weights byte for byte, not the last epoch's", () => {
    const state = join(store.finalStepDir('train'), 'state');
    const checkpoint = modelWeights(store.finalStepDir('checkpoint'));
    expect([...checkpoint.keys()].sort()).toEqual([
      'conv2d/bias', 'conv2d/kernel', 'conv2d_1/bias', 'conv2d_1/kernel', 'dense/bias', 'dense/kernel', 'dense_1/bias', 'dense_1/kernel',
    ]);
    const best = epochWeights(state, BEST);
    expect(differing(checkpoint, best)).toEqual([]);
    // The comparison can tell epochs apart: every weight moved between the best and the last epoch.
    const last = epochWeights(state, LAST);
    expect(differing(checkpoint, last)).toEqual([...checkpoint.keys()]);
  });
});

describe('per-step dropout seeds (trainBatch)', () => {
  /**
   * One Adam step of a fresh buildModel(1) on one real image, with `dropoutSeed`. With a batch of
   * one, the dropout mask is visible in the weights the step changed: dense_1's kernel row i gets
   * gradient activation_i * mask_i * (...), so a unit that was active (relu > 0) keeps its row
   * bit for bit exactly when dropout dropped it (Adam's update of a zero gradient is zero).
   */
  let image: Float32Array;
  let label: Int32Array;
  /** relu outputs of `dense` for the image, before the step (dropout comes after it) */
  let active: number[];

  beforeAll(async () => {
    const { train } = await loadFashionMnist(datasetDir());
    image = Float32Array.from(train.images.subarray(0, PIXELS), (v) => v / 255);
    label = Int32Array.of(train.labels[0]);
    const model = buildModel(1);
    const dense = tf.model({ inputs: model.inputs, outputs: model.getLayer('dense').output as tf.SymbolicTensor });
    const a = tf.tidy(() => (dense.predict(tf.tensor4d(image, [1, 28, 28, 1])) as tf.Tensor).dataSync());
    active = Array.from(a.keys()).filter((i) => a[i] > 0);
    model.dispose();
    // Enough active units to see a mask on.
    expect(active.length).toBeGreaterThan(20);
  });

  function step(dropoutSeed: number): { weights: Buffer[]; dropped: number[] } {
    const model = buildModel(1);
    const optimizer = tf.train.adam();
    const before = model.getLayer('dense_1').getWeights()[0].arraySync() as number[][];
    trainBatch(model, optimizer, image, label, dropoutSeed);
    const weights = model.getWeights().map((w) => Buffer.from(bytesOf(w)));
    const after = model.getLayer('dense_1').getWeights()[0].arraySync() as number[][];
    const dropped = active.filter((i) => after[i].every((v, j) => Object.is(v, before[i][j])));
    model.dispose();
    optimizer.dispose();
    return { weights, dropped };
  }

  /**
   * The dropout seed of shard 0 of a step (trainer.ts's shardGradients): a batch of one is all in
   * shard 0. Written out here, not imported, so that a change to how shards are seeded (which
   * moves every trained weight) is seen here too.
   */
  const shard0Seed = (stepSeed: number) => (stepSeed ^ Math.imul(1, 0x9e3779b9)) >>> 0;

  /** What tfjs's dropout drops in the step with this seed (the Dropout layer calls tf.dropout with its seed). */
  function expectedDropped(stepSeed: number): number[] {
    const rate = (buildModel(1).getLayer('dropout').getConfig() as { rate: number }).rate;
    const kept = tf.tidy(() => tf.dropout(tf.ones([1, 100]), rate, undefined, shard0Seed(stepSeed)).dataSync());
    return active.filter((i) => kept[i] === 0);
  }

  it('the same (seed, epoch, step) drops the same units and gives bit-identical weights', () => {
    const seed = derivedSeed(7, 'dropout', 1, 0);
    expect(derivedSeed(7, 'dropout', 1, 0)).toBe(seed);
    const a = step(seed);
    const b = step(seed);
    expect(a.dropped).toEqual(b.dropped);
    expect(a.weights.every((w, i) => w.equals(b.weights[i]))).toBe(true);
    // The units seen dropped are the ones tfjs's dropout drops with that seed, and a fair share.
    expect(a.dropped).toEqual(expectedDropped(seed));
    expect(a.dropped.length).toBeGreaterThan(0);
    expect(a.dropped.length).toBeLessThan(active.length);
  });

  it('other steps and epochs drop other units', () => {
    const seeds = [derivedSeed(7, 'dropout', 1, 0), derivedSeed(7, 'dropout', 1, 1), derivedSeed(7, 'dropout', 2, 0), derivedSeed(8, 'dropout', 1, 0)];
    expect(new Set(seeds).size).toBe(seeds.length);
    const steps = seeds.map(step);
    for (const [i, s] of steps.entries()) {
      expect(s.dropped).toEqual(expectedDropped(seeds[i]));
      for (const other of steps.slice(i + 1)) {
        expect(s.dropped).not.toEqual(other.dropped);
        // dense_1's kernel (index 6) took another step.
        expect(s.weights[6].equals(other.weights[6])).toBe(false);
      }
    }
  });
});
