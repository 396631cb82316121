/**
 * A run folder for the tests of the steps after `checkpoint`: the real dataset linked into the
 * cache from the suite's own (test/global-setup.ts), and a small real model (the book's CNN, a few Adam steps on real images) saved where the
 * checkpoint step puts the best model. The model is trained on the wasm backend with the project's
 * training kernels, whatever backend the test then runs its steps on (they load the saved files).
 */
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { inject } from 'vitest';
import { datasetFiles, loadFashionMnist, PIXELS } from '../../pipeline/catalog/dataset.js';
import { adam } from '../../pipeline/ml/adam.js';
import { buildModel } from '../../pipeline/ml/model.js';
import { saveModel } from '../../pipeline/catalog/model-io.js';
import { RunStore } from '../../pipeline/catalog/store.js';
import { tf } from '../../pipeline/tfjs/tf.js';
import { trainBatch } from '../../pipeline/ml/trainer.js';
import { registerWasmTrainingKernels } from '../../pipeline/tfjs/wasm-kernels.js';
import { DEBIAN_DATASET_DIR } from '../../pipeline/data/sources/apt.js';

/**
 * The suite's dataset cache: the four Fashion-MNIST .gz files, filled once by the download step's
 * chain (test/global-setup.ts) and verified against the pinned SHA-256s. Tests that need the data
 * read it here, wherever it came from.
 */
export function datasetDir(): string {
  return inject('datasetDir');
}

/**
 * Debian's dataset-fashion-mnist folder, for the tests about that source (the download step
 * naming it as where a file came from). Tests that only need the data use datasetDir().
 */
export const SYSTEM_DATASET = DEBIAN_DATASET_DIR;

export interface FixtureRun {
  root: string;
  store: RunStore;
  cleanup(): Promise<void>;
}

/** Links the suite's verified Fashion-MNIST files into the store's dataset cache. */
export async function linkDataset(store: RunStore): Promise<void> {
  await mkdir(store.dataDir, { recursive: true });
  for (const path of datasetFiles(store.dataDir)) await symlink(join(datasetDir(), basename(path)), path);
}

/**
 * Trains `buildModel(seed)` for `steps` Adam steps of `batchSize` real training images, on the
 * backend in use. A large learning rate moves every weight by about `learningRate` per early step
 * (Adam's first steps are close to sign(gradient) * rate), so a few steps already make a model
 * whose weights are clearly not the initial ones.
 */
export async function trainedFixture(seed: number, steps: number, batchSize: number, learningRate: number, dataDir: string): Promise<tf.LayersModel> {
  const { train } = await loadFashionMnist(dataDir);
  const model = buildModel(seed);
  const optimizer = adam(learningRate);
  for (let step = 0; step < steps; step++) {
    const start = step * batchSize;
    const x = Float32Array.from(train.images.subarray(start * PIXELS, (start + batchSize) * PIXELS), (v) => v / 255);
    trainBatch(model, optimizer, x, Int32Array.from(train.labels.subarray(start, start + batchSize)), seed + step);
  }
  optimizer.dispose();
  return model;
}

/**
 * Runs `f` on the wasm backend with the project's training kernels (as pipeline/tfjs/backend.ts
 * starts it, single-threaded), then switches back to the backend in use before. The tests of the
 * steps run on the cpu backend, whose conv2d gradients take about a second per image: the 16
 * images of makeFixtureRun's training cost 20 s there, well under one on wasm.
 */
async function onWasm<T>(f: () => Promise<T>): Promise<T> {
  const previous = tf.getBackend();
  await import('@tensorflow/tfjs-backend-wasm');
  registerWasmTrainingKernels();
  if (!(await tf.setBackend('wasm'))) throw new Error('the wasm backend failed to initialize');
  try {
    return await f();
  } finally {
    if (!(await tf.setBackend(previous))) throw new Error(`the ${previous} backend failed to start again`);
  }
}

export async function makeFixtureRun(seed: number, options = { steps: 4, batchSize: 4, learningRate: 0.03 }): Promise<FixtureRun> {
  const root = await mkdtemp(join(tmpdir(), 'cnn-lens-fixture-'));
  const store = new RunStore(join(root, 'artifacts'), 'fixture');
  await linkDataset(store);
  await onWasm(async () => {
    const model = await trainedFixture(seed, options.steps, options.batchSize, options.learningRate, store.dataDir);
    await saveModel(model, store.model.modelJson);
    model.dispose();
  });
  return { root, store, cleanup: () => rm(root, { recursive: true, force: true }) };
}
