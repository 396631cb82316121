/**
 * `train`: the book's CNN on the seeded split, Adam, batch 32, early stopping on val_loss with the
 * best weights restored. Every finished epoch is checkpointed (weights + optimizer state), so a
 * killed run started again resumes after its last finished epoch and ends bit-identical.
 *
 * The saved epochs are keyed on what decides the weights: params, data, backend and the training
 * math (train/fit.ts and what it loads). When only the rest of the step's code changed, the runner
 * re-runs the step and it replays the saved epochs instead of training again.
 */
import { rm } from 'node:fs/promises';
import { TRAIN_IMAGES } from '../pipeline/catalog/dataset.js';
import type { History, HistoryRow } from '../pipeline/catalog/schema.js';
import { defineStep } from '../pipeline/catalog/store.js';
import { codeDigest } from '../pipeline/core/code-digest.js';
import { digestPaths, sha256, stableStringify } from '../pipeline/core/hash.js';
import type { Logger } from '../pipeline/core/log.js';
import type { Params } from '../pipeline/core/params.js';
import { gatherImages, gatherLabels, trainValSplit } from '../pipeline/data/split.js';
import { buildModel } from '../pipeline/ml/model.js';
import { BACKEND_CODE } from '../pipeline/tfjs/backend.js';
import { tf } from '../pipeline/tfjs/tf.js';
import { earlyStopping, trainEpoch, type Fit } from './train/fit.js';
import { loadEpochWeights, resumeEpoch, saveEpoch, type EpochKey } from './train/state.js';

export { earlyStopping };

/** The params that decide the weights. */
const trainParams = (p: Params) => ({ seed: p.seed, epochs: p.epochs, batchSize: p.batchSize, patience: p.patience, trainSize: p.trainSize, valSize: p.valSize });

/** The framework (errors, params, log) computes nothing: an edit there must not cost a retrain. */
const FRAMEWORK = 'pipeline/core/';

/** What decides the weights of the saved epochs: params, the dataset's bytes, the backend, the training math (the epoch loop, the model, the trainer, the backend's kernels). */
export async function epochKey(p: Params, datasetPaths: readonly string[], backend: string): Promise<EpochKey> {
  const math = await codeDigest([new URL('./train/fit.ts', import.meta.url).href, BACKEND_CODE]);
  const files = Object.fromEntries(Object.entries(math.files).filter(([file]) => !file.startsWith(FRAMEWORK)));
  const parts = {
    params: sha256(stableStringify(trainParams(p))),
    data: await digestPaths([...datasetPaths]),
    backend,
    code: sha256(stableStringify(files)),
  };
  return { digest: sha256(stableStringify(parts)), parts, files };
}

/** A model and optimizer at the newest saved epoch of this key, or fresh ones. */
async function resumeOrStart(root: string, key: EpochKey, seed: number, log: Logger) {
  const model = buildModel(seed);
  const optimizer = tf.train.adam();
  const resumed = await resumeEpoch(root, key, model, optimizer, (m) => log.warn(m));
  if (resumed) return { model, optimizer, rows: resumed.rows, kept: resumed.kept };
  // A failed resume may have put some tensors in place: start from a really fresh pair.
  model.dispose();
  optimizer.dispose();
  return { model: buildModel(seed), optimizer: tf.train.adam(), rows: [] as HistoryRow[], kept: [] as number[] };
}

const epochLine = (row: HistoryRow, p: Params, best: boolean) =>
  `epoch ${row.epoch}/${p.epochs}: loss ${row.loss.toFixed(4)} acc ${row.accuracy.toFixed(4)} ` +
  `val_loss ${row.val_loss.toFixed(4)} val_acc ${row.val_accuracy.toFixed(4)} ` +
  `${row.seconds.toFixed(1)} s (${Math.round(row.samples_per_s)} samples/s)` +
  (best ? ' *best' : '');

export const trainStep = defineStep({
  name: 'train',
  module: import.meta.url,
  staged: false,
  usesBackend: true,
  params: trainParams,
  inputs: (store) => ({ dataset: store.dataset }),
  outputs: (store) => ({ history: store.history, best: store.trainBest, state: store.trainState }),
  async run({ params: p, inputs, outputs, log, backend, force }) {
    const root = outputs.state.dir;
    if (force) {
      log.warn(`--force: discarding the saved epochs in ${root}`);
      await rm(root, { recursive: true, force: true });
    }
    const key = await epochKey(p, inputs.dataset.paths, backend);
    const data = await inputs.dataset.load();
    const split = trainValSplit(TRAIN_IMAGES, p.trainSize, p.valSize, p.seed);
    const session = await resumeOrStart(root, key, p.seed, log);
    const { model, optimizer, rows } = session;
    const fit: Fit = { model, optimizer, train: data.train, split, val: { x: gatherImages(data.train.images, split.val), y: gatherLabels(data.train.labels, split.val) } };

    let state = earlyStopping(rows, p.patience);
    if (rows.length > 0) {
      const done = state.stop || rows.length >= p.epochs;
      log.info(done ? `train: all ${rows.length} epochs are saved for these params, data, backend and training code: replaying them, no training` : `train: resuming after epoch ${rows.length}`);
    }
    for (let epoch = rows.length + 1; epoch <= p.epochs && !state.stop; epoch++) {
      const row = await trainEpoch(fit, p, epoch, log);
      rows.push(row);
      state = earlyStopping(rows, p.patience);
      // Keep: this epoch (resume), the one before (fallback if this one is damaged), the best.
      const kept = [epoch - 1, state.best].filter((e) => e >= 1);
      await saveEpoch(root, key, rows, kept, model, optimizer);
      log.info(epochLine(row, p, state.best === epoch));
    }
    if (state.stop) log.info(`train: early stopping after epoch ${rows.length}; best epoch ${state.best} restored`);

    await loadEpochWeights(root, state.best, model);
    await outputs.best.save(model);
    const history: History = { rows, best_epoch: state.best, stopped_early: state.stop };
    await outputs.history.write(history);
    model.dispose();
    optimizer.dispose();
  },
});
