/**
 * One optimizer step and batched evaluation for the book's CNN. Owned here (not model.fit) so that
 * the shuffle, the dropout seeds, the shards and the optimizer state are ours: that is what makes
 * training deterministic and resumable bit for bit, on any number of threads.
 */
import { IMAGE_SHAPE, PIXELS } from '../catalog/dataset.js';
import { tf } from '../tfjs/tf.js';
import { applyShardMean } from './adam.js';

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

/**
 * Every batch is split into this many shards, whose gradients are computed apart and averaged
 * (weighted by shard size) before one Adam step: the mean gradient over the batch, as Keras
 * computes it, rounded in a fixed order. A fixed count, not the thread count, so that 1 thread
 * (the shards one after the other) and 2 threads (one shard each, parallel-trainer.ts) give the
 * same bits on every machine.
 */
export const SHARDS = 2;

/** The shards of a batch of n: consecutive samples, sizes differing by at most one (a shard may be empty). */
export function shardRanges(n: number): { start: number; size: number }[] {
  let start = 0;
  return Array.from({ length: SHARDS }, (_, r) => {
    const size = Math.floor(n / SHARDS) + (r < n % SHARDS ? 1 : 0);
    const range = { start, size };
    start += size;
    return range;
  });
}

/** The trainable variables, in the model's order (the order gradients are exchanged in). */
export function trainableVariables(model: tf.LayersModel): tf.Variable[] {
  return model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
}

export interface ShardGradients {
  /**
   * The gradient of the shard's mean loss, per trainable variable, in the model's order: tensors,
   * or float32 arrays (a worker's, read in shared memory).
   */
  grads: (tf.Tensor | Float32Array)[];
  /** the shard's mean loss */
  loss: number;
  /** correct predictions in the shard */
  correct: number;
}

/**
 * The gradients of one shard: images [size * PIXELS] in [0, 1], labels [size], with the step's
 * dropout seed made distinct per shard. The caller disposes the gradients.
 */
export function shardGradients(model: tf.LayersModel, images: Float32Array, labels: Int32Array, stepSeed: number, shard: number): ShardGradients {
  const n = labels.length;
  const vars = trainableVariables(model);
  seedDropout(model, (stepSeed ^ Math.imul(shard + 1, 0x9e3779b9)) >>> 0);
  try {
    let loss = 0;
    let correct = 0;
    const grads = tf.tidy(() => {
      const x = tf.tensor4d(images, [n, ...IMAGE_SHAPE]);
      const y = tf.tensor1d(labels, 'int32');
      const { value, grads: named } = tf.variableGrads(() => {
        const probs = model.apply(x, { training: true }) as tf.Tensor2D;
        correct = tf.sum(tf.cast(tf.equal(tf.argMax(probs, -1), y), 'int32')).dataSync()[0];
        return sparseCrossEntropy(y, probs);
      }, vars);
      loss = value.dataSync()[0];
      return vars.map((v) => named[v.name]);
    });
    return { grads, loss, correct };
  } finally {
    // The step's seed would otherwise stay in the layer's config and so in every saved model.json:
    // a run resumed after its last epoch (no step taken) would save another model.json than an
    // uninterrupted one, and every later step would be redone for nothing.
    seedDropout(model, undefined);
  }
}

export interface BatchResult {
  /** the batch's mean loss */
  loss: number;
  /** correct predictions in the batch */
  correct: number;
}

/**
 * Averages the shards' gradients (weighted by size, in shard order: the same roundings wherever
 * the shards were computed), applies one Adam step, and returns the batch's loss and count of
 * correct predictions. Disposes the shards' gradients. The trainer's Adam with the native kernels
 * does both in one pass per variable (adam.ts applyShardMean), to the same bits.
 */
export function applyShards(model: tf.LayersModel, optimizer: tf.Optimizer, shards: (ShardGradients & { size: number })[]): BatchResult {
  const n = shards.reduce((sum, s) => sum + s.size, 0);
  const used = shards.filter((s) => s.size > 0);
  const vars = trainableVariables(model);
  const names = vars.map((v) => v.name);
  if (!applyShardMean(optimizer, names, used.map((s) => ({ grads: s.grads, scale: s.size / n })))) {
    tf.tidy(() => {
      const mean: tf.NamedTensorMap = {};
      vars.forEach((v, i) => {
        const grads = used.map((s) => s.grads[i]).map((g) => (g instanceof Float32Array ? tf.tensor(g, v.shape, 'float32') : g));
        mean[v.name] = grads.map((g, j) => tf.mul(g, used[j].size / n)).reduce((a, b) => tf.add(a, b));
      });
      optimizer.applyGradients(mean);
    });
  }
  tf.dispose(shards.flatMap((s) => s.grads.filter((g): g is tf.Tensor => g instanceof tf.Tensor)));
  return {
    loss: used.reduce((sum, s) => sum + s.loss * s.size, 0) / n,
    correct: used.reduce((sum, s) => sum + s.correct, 0),
  };
}

/**
 * One Adam step on a batch (images [n * PIXELS] in [0, 1], labels [n]), its shards computed one
 * after the other on this thread. parallel-trainer.ts computes the same step with a shard per
 * thread, to the same bits.
 */
export function trainBatch(model: tf.LayersModel, optimizer: tf.Optimizer, images: Float32Array, labels: Int32Array, stepSeed: number): BatchResult {
  const shards = shardRanges(labels.length).map(({ start, size }, r) => ({
    size,
    ...(size > 0
      ? shardGradients(model, images.subarray(start * PIXELS, (start + size) * PIXELS), labels.subarray(start, start + size), stepSeed, r)
      : { grads: [], loss: 0, correct: 0 }),
  }));
  return applyShards(model, optimizer, shards);
}

export interface EvalResult {
  loss: number;
  accuracy: number;
  /** predicted class per sample */
  predictions: Int32Array;
}

/** The batch size of evaluation: inference only, so larger than training's. */
const EVAL_BATCH = 500;

/** The batches evaluate works in: consecutive, of EVAL_BATCH samples (the last one shorter). */
export function evaluationBatches(n: number): { start: number; end: number }[] {
  return Array.from({ length: Math.ceil(n / EVAL_BATCH) }, (_, b) => ({ start: b * EVAL_BATCH, end: Math.min(n, (b + 1) * EVAL_BATCH) }));
}

/**
 * One batch of evaluate, in inference mode (no dropout): the sum of its losses (the float32 mean
 * times the batch size, as Keras sums) and its predicted classes.
 */
export function evaluateBatch(model: tf.LayersModel, images: Float32Array, labels: ArrayLike<number>): { lossSum: number; predictions: Int32Array } {
  const n = labels.length;
  const [loss, pred] = tf.tidy(() => {
    const x = tf.tensor4d(images, [n, ...IMAGE_SHAPE]);
    const y = tf.tensor1d(Int32Array.from(labels), 'int32');
    const probs = model.predict(x) as tf.Tensor2D;
    return [tf.mul(sparseCrossEntropy(y, probs), n), tf.argMax(probs, -1)];
  });
  const lossSum = (loss.dataSync() as Float32Array)[0];
  const predictions = (pred.dataSync() as Int32Array).slice();
  tf.dispose([loss, pred]);
  return { lossSum, predictions };
}

/**
 * evaluate's result from its batches' loss sums (in batch order: the same roundings wherever the
 * batches were computed) and the predictions of the whole set.
 */
export function evaluationTotals(labels: ArrayLike<number>, lossSums: ArrayLike<number>, predictions: Int32Array): EvalResult {
  let loss = 0;
  for (let b = 0; b < lossSums.length; b++) loss += lossSums[b];
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (predictions[i] === labels[i]) correct++;
  return { loss: loss / labels.length, accuracy: correct / labels.length, predictions };
}

/** Loss, accuracy and predictions over a whole set, in inference mode, on this thread. */
export function evaluate(model: tf.LayersModel, images: Float32Array, labels: Uint8Array | Int32Array): EvalResult {
  const predictions = new Int32Array(labels.length);
  const lossSums = evaluationBatches(labels.length).map(({ start, end }) => {
    const batch = evaluateBatch(model, images.subarray(start * PIXELS, end * PIXELS), labels.subarray(start, end));
    predictions.set(batch.predictions, start);
    return batch.lossSum;
  });
  return evaluationTotals(labels, lossSums, predictions);
}

/** The model's class probabilities for the first `count` images (one row per image). */
export function probabilities(model: tf.LayersModel, images: Float32Array, count: number): number[][] {
  const probs = tf.tidy(() => model.predict(tf.tensor4d(images.subarray(0, count * PIXELS), [count, ...IMAGE_SHAPE])) as tf.Tensor2D);
  const rows = probs.arraySync();
  probs.dispose();
  return rows;
}
