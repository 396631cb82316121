/**
 * `train`: the book's CNN on the seeded split, Adam, batch 32, early stopping on val_loss with the
 * best weights restored. Every finished epoch is checkpointed (weights + optimizer state), so a
 * killed run started again resumes after its last finished epoch and ends bit-identical.
 *
 * The saved epochs are keyed on what decides the weights: params, data, backend and the training
 * math (train/fit.ts and what it loads). When only the rest of the step's code changed, the runner
 * re-runs the step and it replays the saved epochs instead of training again.
 */
import { defineStep } from '../pipeline/catalog/store.js';
import { codeDigest } from '../pipeline/core/code-digest.js';
import { digestPaths, sha256, stableStringify } from '../pipeline/core/hash.js';
import { packageVersions } from '../pipeline/core/manifest.js';
import { DEFAULT_DROPOUT, DEFAULT_LEARNING_RATE, type Params } from '../pipeline/core/params.js';
import { BACKEND_CODE, BACKEND_PACKAGES } from '../pipeline/tfjs/backend.js';
import type { EpochKey } from './train/state.js';

/**
 * The params that decide the weights. Dropout and learning rate only when not the default: the
 * runs made before they were options keep their fingerprints, and their saved epochs their key.
 */
const trainParams = (p: Params) => ({
  seed: p.seed,
  epochs: p.epochs,
  batchSize: p.batchSize,
  patience: p.patience,
  trainSize: p.trainSize,
  valSize: p.valSize,
  ...((p.dropout ?? DEFAULT_DROPOUT) === DEFAULT_DROPOUT ? {} : { dropout: p.dropout }),
  ...((p.learningRate ?? DEFAULT_LEARNING_RATE) === DEFAULT_LEARNING_RATE ? {} : { learningRate: p.learningRate }),
});

/** The framework (errors, params, log) computes nothing: an edit there must not cost a retrain. */
const FRAMEWORK = 'pipeline/core/';

/** What decides the weights of the saved epochs: params, the dataset's bytes, the backend, the training math (the epoch loop, the model, the trainer, the backend's kernels). */
export async function epochKey(p: Params, datasetPaths: readonly string[], backend: string): Promise<EpochKey> {
  const math = await codeDigest([new URL('./train/fit.ts', import.meta.url).href, BACKEND_CODE]);
  const versions = packageVersions();
  const files = Object.fromEntries(Object.entries(math.files).filter(([file]) => !file.startsWith(FRAMEWORK)));
  const parts = {
    params: sha256(stableStringify(trainParams(p))),
    data: await digestPaths([...datasetPaths]),
    backend,
    code: sha256(stableStringify({ files, packages: BACKEND_PACKAGES.map((name) => [name, versions[name] ?? null]) })),
  };
  return { digest: sha256(stableStringify(parts)), parts, files };
}

export const trainStep = defineStep({
  name: 'train',
  module: import.meta.url,
  staged: false,
  usesBackend: true,
  // An imported model (--model) is decided by its file's bytes alone: moving the file changes nothing.
  params: (p) => (p.model ? { model: p.model.sha256 } : trainParams(p)),
  inputs: (store) => ({ dataset: store.dataset }),
  outputs: (store) => ({ history: store.history, best: store.trainBest, state: store.trainState }),
  // TensorFlow.js loads only when the step runs.
  run: async (ctx) => (ctx.params.model ? (await import('./train/import.js')).importTrained(ctx, ctx.params.model) : (await import('./train/run.js')).train(ctx)),
});
