/**
 * `train`: the book's CNN on the seeded split, Adam, batch 32, early stopping on val_loss with the
 * best weights restored. Every finished epoch is checkpointed (weights + optimizer state), so a
 * killed run started again resumes after its last finished epoch and ends bit-identical.
 */
import { datasetFiles, loadFashionMnist } from '../pipeline/data/dataset.js';
import { buildModel } from '../pipeline/ml/model.js';
import { saveModel } from '../pipeline/catalog/model-io.js';
import { TRAIN_IMAGES } from '../pipeline/core/params.js';
import type { History, HistoryRow } from '../pipeline/catalog/schema.js';
import { derivedSeed, gatherImages, gatherLabels, permutation, trainValSplit } from '../pipeline/data/split.js';
import type { Step } from '../pipeline/core/step.js';
import { writeJson } from '../pipeline/core/files.js';
import { tf } from '../pipeline/tfjs/tf.js';
import { evaluate, trainBatch } from '../pipeline/ml/trainer.js';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { loadEpochWeights, resumeEpoch, saveEpoch } from './train/state.js';

/** Keras EarlyStopping(monitor='val_loss', patience, restore_best_weights=True), replayed over rows. */
export function earlyStopping(rows: HistoryRow[], patience: number): { best: number; stop: boolean } {
  let best = 0;
  let wait = 0;
  let stop = false;
  rows.forEach((row, i) => {
    wait += 1;
    if (i === 0 || row.val_loss < rows[best].val_loss) {
      best = i;
      wait = 0;
    } else if (wait >= patience) {
      stop = true;
    }
  });
  return { best: best + 1, stop };
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

export const trainStep: Step = {
  name: 'train',
  version: 2,
  staged: false,
  usesBackend: true,
  params: (p) => ({ seed: p.seed, epochs: p.epochs, batchSize: p.batchSize, patience: p.patience, trainSize: p.trainSize, valSize: p.valSize }),
  reads: (store) => datasetFiles(store.dataDir),
  writes: (store) => [store.history, store.trainBest],
  async run({ params: p, store, log, fingerprint, force }) {
    if (force) await rm(store.trainState, { recursive: true, force: true });
    const data = await loadFashionMnist(store.dataDir);
    const split = trainValSplit(TRAIN_IMAGES, p.trainSize, p.valSize, p.seed);
    const valX = gatherImages(data.train.images, split.val);
    const valY = gatherLabels(data.train.labels, split.val);

    let model = buildModel(p.seed);
    let optimizer = tf.train.adam();
    const resumed = await resumeEpoch(store.trainState, fingerprint, model, optimizer, (m) => log.warn(m));
    if (!resumed) {
      // A failed resume may have put some tensors in place: start from a really fresh pair.
      model.dispose();
      optimizer.dispose();
      model = buildModel(p.seed);
      optimizer = tf.train.adam();
    }
    const rows: HistoryRow[] = resumed?.rows ?? [];
    let kept = resumed?.kept ?? [];
    if (rows.length > 0) log.info(`train: resuming after epoch ${rows.length}`);

    const n = p.trainSize;
    const batches = Math.ceil(n / p.batchSize);
    const xBuf = new Float32Array(p.batchSize * 784);
    let state = earlyStopping(rows, p.patience);
    for (let epoch = rows.length + 1; epoch <= p.epochs && !state.stop; epoch++) {
      const started = performance.now();
      const order = permutation(n, derivedSeed(p.seed, 'shuffle', epoch));
      const bar = log.progress(`epoch ${epoch}/${p.epochs}`, batches, 'batches');
      let lossSum = 0;
      let correct = 0;
      for (let b = 0; b < batches; b++) {
        const lo = b * p.batchSize;
        const hi = Math.min(n, lo + p.batchSize);
        const idx = Array.from(order.subarray(lo, hi), (i) => split.train[i]);
        const x = tf.tensor4d(gatherImages(data.train.images, idx, xBuf).subarray(0, idx.length * 784), [idx.length, 28, 28, 1]);
        const y = tf.tensor1d(gatherLabels(data.train.labels, idx), 'int32');
        const result = trainBatch(model, optimizer, x, y, derivedSeed(p.seed, 'dropout', epoch, b));
        lossSum += result.loss.dataSync()[0] * idx.length;
        correct += result.correct.dataSync()[0];
        tf.dispose([x, y, result.loss, result.correct]);
        if (b % 20 === 19 || b === batches - 1) {
          bar.update(b + 1, `loss ${(lossSum / hi).toFixed(4)} acc ${(correct / hi).toFixed(4)}`);
          // Lets the lock refresh, the bar draw and signals arrive during a long epoch.
          await yieldToEventLoop();
        }
      }
      bar.stop();
      const trainSeconds = (performance.now() - started) / 1000;
      const val = evaluate(model, valX, valY);
      const row: HistoryRow = {
        epoch,
        loss: lossSum / n,
        accuracy: correct / n,
        val_loss: val.loss,
        val_accuracy: val.accuracy,
        seconds: (performance.now() - started) / 1000,
        samples_per_s: n / trainSeconds,
      };
      rows.push(row);
      state = earlyStopping(rows, p.patience);
      // Keep: this epoch (resume), the one before (fallback if this one is damaged), the best.
      kept = [epoch - 1, state.best].filter((e) => e >= 1);
      await saveEpoch(store.trainState, fingerprint, rows, kept, model, optimizer);
      log.info(
        `epoch ${epoch}/${p.epochs}: loss ${row.loss.toFixed(4)} acc ${row.accuracy.toFixed(4)} ` +
          `val_loss ${row.val_loss.toFixed(4)} val_acc ${row.val_accuracy.toFixed(4)} ` +
          `${row.seconds.toFixed(1)} s (${Math.round(row.samples_per_s)} samples/s)` +
          (state.best === epoch ? ' *best' : ''),
      );
    }
    if (state.stop) log.info(`train: early stopping after epoch ${rows.length}; best epoch ${state.best} restored`);

    await loadEpochWeights(store.trainState, state.best, model);
    await saveModel(model, join(store.trainBest, 'model.json'));
    const history: History = { rows, best_epoch: state.best, stopped_early: state.stop };
    await writeJson(store.history, history);
    model.dispose();
    optimizer.dispose();
  },
};
