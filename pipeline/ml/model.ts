import { IMAGE_SHAPE } from '../catalog/dataset.js';
import { DEFAULT_DROPOUT } from '../core/params.js';
import { tf } from '../tfjs/tf.js';

/** Keras layer names of the book's CNN, in order. */
export const LAYER_NAMES = [
  'conv2d',
  'max_pooling2d',
  'conv2d_1',
  'max_pooling2d_1',
  'flatten',
  'dense',
  'dropout',
  'dense_1',
] as const;

export const TOTAL_PARAMS = 333_526;

/**
 * A distinct seed per initializer: tfjs initializers with the same seed draw the same numbers, and
 * without one they use Math.random (not reproducible).
 */
function initSeed(seed: number, layer: number): number {
  return (seed * 1000 + layer * 7 + 1) >>> 0;
}

/** The book's CNN (chapter 8-2), with Keras's layer names and seeded initializers; `dropout`: the dropout layer's rate. */
export function buildModel(seed: number, dropout = DEFAULT_DROPOUT): tf.LayersModel {
  const kernel = (i: number) => tf.initializers.glorotUniform({ seed: initSeed(seed, i) });
  const model = tf.sequential({ name: 'sequential' });
  model.add(
    tf.layers.conv2d({
      name: 'conv2d',
      inputShape: IMAGE_SHAPE,
      filters: 32,
      kernelSize: 3,
      activation: 'relu',
      padding: 'same',
      kernelInitializer: kernel(0),
    }),
  );
  model.add(tf.layers.maxPooling2d({ name: 'max_pooling2d', poolSize: 2 }));
  model.add(
    tf.layers.conv2d({
      name: 'conv2d_1',
      filters: 64,
      kernelSize: 3,
      activation: 'relu',
      padding: 'same',
      kernelInitializer: kernel(2),
    }),
  );
  model.add(tf.layers.maxPooling2d({ name: 'max_pooling2d_1', poolSize: 2 }));
  model.add(tf.layers.flatten({ name: 'flatten' }));
  model.add(tf.layers.dense({ name: 'dense', units: 100, activation: 'relu', kernelInitializer: kernel(5) }));
  model.add(tf.layers.dropout({ name: 'dropout', rate: dropout }));
  model.add(tf.layers.dense({ name: 'dense_1', units: 10, activation: 'softmax', kernelInitializer: kernel(7) }));
  return model;
}

/**
 * The untrained twin of a run's model, for contrast: the same architecture, never trained,
 * initialised with `seed`. A model trained here is the book's CNN, so its twin is exactly
 * `buildModel(seed)`, the model training started from. An imported model (--model) may be any
 * architecture: its own config, every kernel drawn from a seeded Glorot-uniform (Keras's default,
 * and what buildModel uses) and every bias zero.
 */
export async function untrainedTwin(model: tf.LayersModel, seed: number, imported: boolean): Promise<tf.LayersModel> {
  if (!imported) return buildModel(seed);
  const topology = model.toJSON(undefined, false) as unknown as { config: { layers: { config: Record<string, unknown> }[] } };
  topology.config.layers.forEach((layer, i) => {
    if ('kernel_initializer' in layer.config) layer.config.kernel_initializer = { class_name: 'GlorotUniform', config: { seed: initSeed(seed, i) } };
    if ('bias_initializer' in layer.config) layer.config.bias_initializer = { class_name: 'Zeros', config: {} };
  });
  return tf.models.modelFromJSON({ modelTopology: topology as unknown as tf.io.ModelJSON['modelTopology'] } as tf.io.ModelJSON);
}
