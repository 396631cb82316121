/**
 * `checkpoint`: the best model in the TensorFlow.js layers format, and its metrics on the
 * validation split and the 10,000 test images (with the test confusion matrix).
 */
import { join } from 'node:path';
import { datasetFiles, loadFashionMnist } from '../pipeline/data/dataset.js';
import { loadModel, saveModel } from '../pipeline/catalog/model-io.js';
import { TRAIN_IMAGES } from '../pipeline/core/params.js';
import type { History, Metrics } from '../pipeline/catalog/schema.js';
import { gatherImages, gatherLabels, trainValSplit } from '../pipeline/data/split.js';
import type { Step } from '../pipeline/core/step.js';
import { readJson, writeJson } from '../pipeline/core/files.js';
import { evaluate as evaluateSplit } from '../pipeline/ml/trainer.js';

const CLASSES = 10;

export function confusionMatrix(labels: ArrayLike<number>, predictions: ArrayLike<number>): number[][] {
  const m = Array.from({ length: CLASSES }, () => new Array<number>(CLASSES).fill(0));
  for (let i = 0; i < labels.length; i++) m[labels[i]][predictions[i]]++;
  return m;
}

export const checkpointStep: Step = {
  name: 'checkpoint',
  version: 1,
  usesBackend: true,
  params: (p) => ({ seed: p.seed, trainSize: p.trainSize, valSize: p.valSize }),
  reads: (store) => [store.history, store.trainBest, ...datasetFiles(store.dataDir)],
  writes: (store) => [store.finalStepDir('checkpoint')],
  async run({ params: p, store, log }) {
    const history = await readJson<History>(store.history);
    const model = await loadModel(join(store.trainBest, 'model.json'));
    const data = await loadFashionMnist(store.dataDir);
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
    await saveModel(model, store.modelJson);
    await writeJson(store.metrics, metrics);
    log.info(
      `checkpoint: best epoch ${metrics.best_epoch} of ${metrics.epochs_run}; val acc ${val.accuracy.toFixed(4)} loss ${val.loss.toFixed(4)}; ` +
        `test acc ${test.accuracy.toFixed(4)} loss ${test.loss.toFixed(4)}`,
    );
    model.dispose();
  },
};

