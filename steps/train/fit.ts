/**
 * The training math of the train step: the epoch loop over the seeded split, and early stopping.
 * Its digest (with everything it loads outside pipeline/core/) keys the saved epochs, so editing
 * anything here or in the model, trainer or kernels starts training over, while an edit elsewhere
 * in the step (its log lines, the store) only replays the saved epochs.
 */
import { PIXELS, type ImageSet } from '../../pipeline/catalog/dataset.js';
import type { HistoryRow } from '../../pipeline/catalog/schema.js';
import type { Logger } from '../../pipeline/core/log.js';
import { DEFAULT_DROPOUT, DEFAULT_LEARNING_RATE, type Params } from '../../pipeline/core/params.js';
import { derivedSeed, gatherImages, gatherLabels, permutation, type TrainValSplit } from '../../pipeline/data/split.js';
import { adam } from '../../pipeline/ml/adam.js';
import { buildModel } from '../../pipeline/ml/model.js';
import type { Trainer } from '../../pipeline/ml/parallel-trainer.js';
import { tf } from '../../pipeline/tfjs/tf.js';

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

/** The untrained model and a fresh optimizer: what training starts from (here, so that the model and the optimizer are in the saved epochs' key). */
export function freshStart(p: Params): { model: tf.LayersModel; optimizer: tf.Optimizer } {
  return { model: buildModel(p.seed, p.dropout ?? DEFAULT_DROPOUT), optimizer: adam(p.learningRate ?? DEFAULT_LEARNING_RATE) };
}

export interface Fit {
  model: tf.LayersModel;
  /** takes the Adam steps on `model` and validates it (on the validation split), on one thread or more */
  trainer: Trainer;
  train: ImageSet;
  split: TrainValSplit;
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** One epoch: a seeded shuffle, one Adam step per batch (with seeded dropout), then validation. */
export async function trainEpoch(fit: Fit, p: Params, epoch: number, log: Logger): Promise<HistoryRow> {
  const { trainer, train, split } = fit;
  const n = p.trainSize;
  const batches = Math.ceil(n / p.batchSize);
  const xBuf = new Float32Array(p.batchSize * PIXELS);
  const started = performance.now();
  const order = permutation(n, derivedSeed(p.seed, 'shuffle', epoch));
  const bar = log.progress(`epoch ${epoch}/${p.epochs}`, batches, 'batches');
  let lossSum = 0;
  let correct = 0;
  for (let b = 0; b < batches; b++) {
    const lo = b * p.batchSize;
    const hi = Math.min(n, lo + p.batchSize);
    const idx = Array.from(order.subarray(lo, hi), (i) => split.train[i]);
    const images = gatherImages(train.images, idx, xBuf).subarray(0, idx.length * PIXELS);
    const result = trainer.step(images, gatherLabels(train.labels, idx), derivedSeed(p.seed, 'dropout', epoch, b));
    lossSum += result.loss * idx.length;
    correct += result.correct;
    if (b % 20 === 19 || b === batches - 1) {
      bar.update(b + 1, `loss ${(lossSum / hi).toFixed(4)} acc ${(correct / hi).toFixed(4)}`);
      // Lets the lock refresh, the bar draw and signals arrive during a long epoch.
      await yieldToEventLoop();
    }
  }
  bar.stop();
  const trainSeconds = (performance.now() - started) / 1000;
  const val = trainer.validate();
  return {
    epoch,
    loss: lossSum / n,
    accuracy: correct / n,
    val_loss: val.loss,
    val_accuracy: val.accuracy,
    seconds: (performance.now() - started) / 1000,
    samples_per_s: n / trainSeconds,
  };
}
