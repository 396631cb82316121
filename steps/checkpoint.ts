/**
 * `checkpoint`: the best model in the TensorFlow.js layers format, and its metrics on the
 * validation split and the 10,000 test images (with the test confusion matrix).
 */
import { TRAIN_IMAGES } from '../pipeline/catalog/dataset.js';
import type { Metrics } from '../pipeline/catalog/schema.js';
import { defineStep } from '../pipeline/catalog/store.js';
import { gatherImages, gatherLabels, trainValSplit } from '../pipeline/data/split.js';

const CLASSES = 10;

export function confusionMatrix(labels: ArrayLike<number>, predictions: ArrayLike<number>): number[][] {
  const m = Array.from({ length: CLASSES }, () => new Array<number>(CLASSES).fill(0));
  for (let i = 0; i < labels.length; i++) m[labels[i]][predictions[i]]++;
  return m;
}

export const checkpointStep = defineStep({
  name: 'checkpoint',
  module: import.meta.url,
  usesBackend: true,
  params: (p) => ({ seed: p.seed, trainSize: p.trainSize, valSize: p.valSize }),
  inputs: (store) => ({ history: store.history, best: store.trainBest, dataset: store.dataset }),
  outputs: (store) => ({ model: store.model, metrics: store.metrics }),
  async run({ params: p, inputs, outputs, log }) {
    // TensorFlow.js (through the trainer) loads only when the step runs.
    const { evaluate: evaluateSplit } = await import('../pipeline/ml/trainer.js');
    const history = await inputs.history.read();
    const model = await inputs.best.load();
    const data = await inputs.dataset.load();
    const split = trainValSplit(TRAIN_IMAGES, p.trainSize, p.valSize, p.seed);
    const val = evaluateSplit(model, gatherImages(data.train.images, split.val), gatherLabels(data.train.labels, split.val));
    const testIdx = Array.from({ length: data.test.count }, (_, i) => i);
    const testLabels = gatherLabels(data.test.labels, testIdx);
    const test = evaluateSplit(model, gatherImages(data.test.images, testIdx), testLabels);
    const confusion = confusionMatrix(testLabels, test.predictions);
    const metrics: Metrics = {
      best_epoch: history.best_epoch,
      epochs_run: history.rows.length,
      val: { loss: val.loss, accuracy: val.accuracy, count: split.val.length },
      test: { loss: test.loss, accuracy: test.accuracy, count: data.test.count },
      confusion,
      per_class_accuracy: confusion.map((row, c) => row[c] / Math.max(1, row.reduce((a, b) => a + b, 0))),
    };
    await outputs.model.save(model);
    await outputs.metrics.write(metrics);
    log.info(
      `checkpoint: best epoch ${metrics.best_epoch} of ${metrics.epochs_run}; val acc ${val.accuracy.toFixed(4)} loss ${val.loss.toFixed(4)}; ` +
        `test acc ${test.accuracy.toFixed(4)} loss ${test.loss.toFixed(4)}`,
    );
    model.dispose();
  },
});

