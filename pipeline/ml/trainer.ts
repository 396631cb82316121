/**
 * One optimizer step and batched evaluation for the book's CNN. Owned here (not model.fit) so that
 * the shuffle, the dropout seeds and the optimizer state are ours: that is what makes training
 * deterministic and resumable bit for bit.
 */
import { IMAGE_SHAPE, PIXELS } from '../catalog/dataset.js';
import { tf } from '../tfjs/tf.js';

/** Keras's sparse categorical cross-entropy on softmax outputs (probabilities clipped like Keras). */
export function sparseCrossEntropy(labels: tf.Tensor1D, probs: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const clipped = tf.clipByValue(probs, 1e-7, 1 - 1e-7);
    const oneHot = tf.oneHot(labels, probs.shape[1]);
    return tf.neg(tf.mean(tf.sum(tf.mul(oneHot, tf.log(clipped)), -1))) as tf.Scalar;
  });
}

/**
 * Sets the dropout layers' seed for the next training step. tfjs's Dropout takes one fixed seed
 * at construction, which would drop the same units on every batch; we give each step its own.
 * `undefined` puts back the unseeded layer of buildModel, as saved models must show it.
 */
function seedDropout(model: tf.LayersModel, seed: number | undefined): void {
  for (const layer of model.layers) {
    if (layer.getClassName() === 'Dropout') (layer as unknown as { seed?: number }).seed = seed;
  }
}

export interface BatchResult {
  loss: tf.Scalar;
  /** number of correct predictions in the batch (int32 scalar) */
  correct: tf.Scalar;
}

/**
 * One Adam step on (x, labels). Returns tensors the caller disposes; reading them forces a sync,
 * so the caller decides how often to do it.
 */
export function trainBatch(
  model: tf.LayersModel,
  optimizer: tf.Optimizer,
  x: tf.Tensor4D,
  labels: tf.Tensor1D,
  dropoutSeed: number,
): BatchResult {
  seedDropout(model, dropoutSeed);
  let correct: tf.Scalar | undefined;
  const loss = optimizer.minimize(
    () => {
      const probs = model.apply(x, { training: true }) as tf.Tensor2D;
      correct = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(probs, -1), labels), 'int32')) as tf.Scalar);
      return sparseCrossEntropy(labels, probs);
    },
    true,
    model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val),
  ) as tf.Scalar;
  // The step's seed would otherwise stay in the layer's config and so in every saved model.json:
  // a run resumed after its last epoch (no step taken) would save another model.json than an
  // uninterrupted one, and every later step would be redone for nothing.
  seedDropout(model, undefined);
  return { loss, correct: correct as tf.Scalar };
}

export interface EvalResult {
  loss: number;
  accuracy: number;
  /** predicted class per sample */
  predictions: Int32Array;
}

/** Loss, accuracy and predictions over a whole set, in inference mode (no dropout). */
export function evaluate(
  model: tf.LayersModel,
  images: Float32Array,
  labels: Uint8Array | Int32Array,
  batchSize = 500,
): EvalResult {
  const n = labels.length;
  const predictions = new Int32Array(n);
  let lossSum = 0;
  let correct = 0;
  for (let start = 0; start < n; start += batchSize) {
    const end = Math.min(n, start + batchSize);
    const [loss, pred] = tf.tidy(() => {
      const x = tf.tensor4d(images.subarray(start * PIXELS, end * PIXELS), [end - start, ...IMAGE_SHAPE]);
      const y = tf.tensor1d(Int32Array.from(labels.subarray(start, end)), 'int32');
      const probs = model.predict(x) as tf.Tensor2D;
      return [tf.mul(sparseCrossEntropy(y, probs), end - start), tf.argMax(probs, -1)];
    });
    lossSum += (loss.dataSync() as Float32Array)[0];
    const p = pred.dataSync() as Int32Array;
    predictions.set(p, start);
    for (let i = 0; i < p.length; i++) if (p[i] === labels[start + i]) correct++;
    tf.dispose([loss, pred]);
  }
  return { loss: lossSum / n, accuracy: correct / n, predictions };
}

/** The model's class probabilities for the first `count` images (one row per image). */
export function probabilities(model: tf.LayersModel, images: Float32Array, count: number): number[][] {
  const probs = tf.tidy(() => model.predict(tf.tensor4d(images.subarray(0, count * PIXELS), [count, ...IMAGE_SHAPE])) as tf.Tensor2D);
  const rows = probs.arraySync();
  probs.dispose();
  return rows;
}
