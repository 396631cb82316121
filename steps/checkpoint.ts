/**
 * `checkpoint`: the best model in the TensorFlow.js layers format and as a Keras 3 `.keras` file,
 * and its metrics: on the 10,000 test images, evaluated here (with the test confusion matrix), and
 * on the validation split, the best epoch's from the training history.
 */
import { FIRST_TEST_IMAGES, type Metrics } from '../pipeline/catalog/schema.js';
import { defineStep } from '../pipeline/catalog/store.js';
import { gatherImages, gatherLabels } from '../pipeline/data/split.js';

const CLASSES = 10;

/** model.keras's metadata date_saved (the zip's own entry dates are fixed the same way). */
const KERAS_DATE_SAVED = new Date(1980, 0, 1);

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
  // An imported model (--model) has no history: it was not trained here.
  inputs: (store, p) => ({ history: p?.model ? undefined : store.history, best: store.trainBest, dataset: store.dataset }),
  outputs: (store) => ({ model: store.model, keras: store.modelKeras, metrics: store.metrics }),
  async run({ params: p, inputs, outputs, log }) {
    // TensorFlow.js (through the trainer) loads only when the step runs.
    const { evaluate: evaluateSplit, probabilities } = await import('../pipeline/ml/trainer.js');
    // h5wasm's 4 MB module keeps tsx's loader thread busy for about 2 s: it loads meanwhile (the
    // catch only keeps a failure for the await below, after an evaluation that failed first)
    const keras = import('../pipeline/catalog/keras/index.js');
    keras.catch(() => undefined);
    const history = inputs.history ? await inputs.history.read() : null;
    const model = await inputs.best.load();
    const data = await inputs.dataset.load();
    const testIdx = Array.from({ length: data.test.count }, (_, i) => i);
    const testLabels = gatherLabels(data.test.labels, testIdx);
    const testImages = gatherImages(data.test.images, testIdx);
    const test = evaluateSplit(model, testImages, testLabels);
    const confusion = confusionMatrix(testLabels, test.predictions);
    const metrics: Metrics = {
      test: { loss: test.loss, accuracy: test.accuracy, count: data.test.count },
      first_test_probabilities: probabilities(model, testImages, FIRST_TEST_IMAGES),
      confusion,
      per_class_accuracy: confusion.map((row, c) => row[c] / Math.max(1, row.reduce((a, b) => a + b, 0))),
    };
    // The seeded validation split overlaps the data an imported model was trained on: no
    // validation figures for it. A trained model's are its best epoch's: training evaluated
    // these very weights on the split, and evaluation is deterministic (a test holds them equal).
    if (history) {
      const best = history.rows[history.best_epoch - 1];
      Object.assign(metrics, { best_epoch: history.best_epoch, epochs_run: history.rows.length, val: { loss: best.val_loss, accuracy: best.val_accuracy, count: p.valSize } });
    }
    await outputs.model.save(model);
    // A fixed date_saved: the same run gives the same bytes, which the diff and CI compare.
    const { exportKeras } = await keras;
    await exportKeras(model, outputs.keras.path, { dateSaved: KERAS_DATE_SAVED });
    await outputs.metrics.write(metrics);
    const { val } = metrics;
    log.info(
      `checkpoint: ${history ? `best epoch ${metrics.best_epoch} of ${metrics.epochs_run}; val acc ${val!.accuracy.toFixed(4)} loss ${val!.loss.toFixed(4)}` : 'imported model'}; ` +
        `test acc ${test.accuracy.toFixed(4)} loss ${test.loss.toFixed(4)}`,
    );
    model.dispose();
  },
});

