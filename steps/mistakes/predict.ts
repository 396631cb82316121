/**
 * The whole test set through the checkpoint model in one pass per batch: the class probabilities
 * and the outputs of the hidden Dense layer the map shows, from one two-output functional model
 * (the chapter's functional API), so the 10,000 images go through the conv layers once, not twice.
 */
import { IMAGE_SHAPE, PIXELS } from '../../pipeline/catalog/dataset.js';
import { tf } from '../../pipeline/tfjs/tf.js';

/**
 * The layer whose outputs the map projects: the last Dense layer before the output layer (the
 * book's 100-unit `dense`). Chosen by class and position, not by name, so that an imported model
 * whose layers are named otherwise gets its own; null for a model whose only Dense layer is its
 * output (no hidden layer to map).
 */
export function hiddenDenseLayer(model: tf.LayersModel): tf.layers.Layer | null {
  const output = model.outputs[0]?.sourceLayer;
  const dense = model.layers.filter((l) => l.getClassName() === 'Dense' && l !== output);
  return dense.at(-1) ?? null;
}

/** The functional-API line that builds the two-output model, as the code runs it. */
export function twoOutputCode(hiddenIndex: number): string {
  return `tf.model({inputs: model.inputs, outputs: [model.layers[${hiddenIndex}].output, model.outputs[0]]})`;
}

export interface TestPredictions {
  /** count x classes, row-major: the softmax outputs */
  probabilities: Float32Array;
  classes: number;
  /** count x width, row-major: the hidden layer's outputs (flattened per image); null without one */
  hidden: Float32Array | null;
  width: number;
}

/**
 * Probabilities (and the hidden layer's outputs) of the first `count` images, `batchSize` at a
 * time: the book's conv2d output alone is 100 kB per image, 1 GB for 10,000 in one batch.
 */
export function predictTestSet(model: tf.LayersModel, hidden: tf.layers.Layer | null, images: Float32Array, count: number, batchSize = 500): TestPredictions {
  // The sub-model shares the model's layers and weights: disposing it would dispose them, so the
  // model's own dispose frees both (as feature-maps' sub-models).
  const net = hidden ? tf.model({ inputs: model.inputs, outputs: [hidden.output as tf.SymbolicTensor, model.outputs[0]] }) : model;
  const classes = model.outputs[0].shape[1] ?? 0;
  const width = hidden ? (hidden.output as tf.SymbolicTensor).shape.slice(1).reduce((a: number, b) => a * (b ?? 1), 1) : 0;
  const probabilities = new Float32Array(count * classes);
  const hiddenOut = hidden ? new Float32Array(count * width) : null;
  for (let start = 0; start < count; start += batchSize) {
    const end = Math.min(count, start + batchSize);
    const outs = tf.tidy(() => {
      const x = tf.tensor4d(images.subarray(start * PIXELS, end * PIXELS), [end - start, ...IMAGE_SHAPE]);
      const y = net.predict(x);
      return Array.isArray(y) ? y : [y];
    });
    const probs = outs[outs.length - 1];
    probabilities.set(probs.dataSync() as Float32Array, start * classes);
    if (hiddenOut) hiddenOut.set(outs[0].dataSync() as Float32Array, start * width);
    tf.dispose(outs);
  }
  return { probabilities, classes, hidden: hiddenOut, width };
}
