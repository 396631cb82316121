/** A ModelSpec as a TensorFlow.js model, and a file's weights put into it after checking each shape. */
import { tf } from '../../tfjs/tf.js';
import { badModel, SAVE_AGAIN } from './problems.js';
import {
  FASHION_MNIST_CLASSES,
  FASHION_MNIST_INPUT,
  pyShape,
  type InitializerSpec,
  type LayerSpec,
  type LayerWeights,
  type ModelSpec,
} from './spec.js';

type Initializer = ReturnType<typeof tf.initializers.zeros>;

function seed(c: InitializerSpec['config']): { seed?: number } {
  return typeof c.seed === 'number' ? { seed: c.seed } : {};
}

const n = (c: InitializerSpec['config'], key: string): number => c[key] as number;

function initializer(spec: InitializerSpec): Initializer {
  const c = spec.config;
  switch (spec.className) {
    case 'GlorotUniform':
      return tf.initializers.glorotUniform(seed(c));
    case 'GlorotNormal':
      return tf.initializers.glorotNormal(seed(c));
    case 'HeUniform':
      return tf.initializers.heUniform(seed(c));
    case 'HeNormal':
      return tf.initializers.heNormal(seed(c));
    case 'LecunUniform':
      return tf.initializers.leCunUniform(seed(c));
    case 'LecunNormal':
      return tf.initializers.leCunNormal(seed(c));
    case 'Zeros':
      return tf.initializers.zeros();
    case 'Ones':
      return tf.initializers.ones();
    case 'RandomNormal':
      return tf.initializers.randomNormal({ mean: n(c, 'mean'), stddev: n(c, 'stddev'), ...seed(c) });
    case 'TruncatedNormal':
      return tf.initializers.truncatedNormal({ mean: n(c, 'mean'), stddev: n(c, 'stddev'), ...seed(c) });
    case 'RandomUniform':
      return tf.initializers.randomUniform({ minval: n(c, 'minval'), maxval: n(c, 'maxval'), ...seed(c) });
    case 'Constant':
      return tf.initializers.constant({ value: n(c, 'value') });
    case 'VarianceScaling':
      return tf.initializers.varianceScaling({
        scale: n(c, 'scale'),
        mode: c.mode === 'fan_in' ? 'fanIn' : c.mode === 'fan_out' ? 'fanOut' : 'fanAvg',
        // tfjs's 'normal' is the truncated normal.
        distribution: c.distribution === 'uniform' ? 'uniform' : 'normal',
        ...seed(c),
      });
    default:
      throw new Error(`no TensorFlow.js initializer for ${spec.className}`);
  }
}

/** `batchInputShape`: only for a Sequential's first layer (see buildFromSpec). */
function layer(spec: LayerSpec, batchInputShape?: (number | null)[]): tf.layers.Layer {
  const { name, trainable } = spec;
  const base = { name, trainable, ...(batchInputShape ? { batchInputShape } : {}) };
  switch (spec.className) {
    case 'Conv2D':
      return tf.layers.conv2d({
        ...base,
        filters: spec.filters,
        kernelSize: spec.kernelSize,
        strides: spec.strides,
        padding: spec.padding,
        dilationRate: spec.dilationRate,
        dataFormat: 'channelsLast',
        activation: spec.activation,
        useBias: spec.useBias,
        kernelInitializer: initializer(spec.kernelInitializer),
        biasInitializer: initializer(spec.biasInitializer),
      });
    case 'MaxPooling2D':
      return tf.layers.maxPooling2d({ ...base, poolSize: spec.poolSize, strides: spec.strides, padding: spec.padding, dataFormat: 'channelsLast' });
    case 'Flatten':
      return tf.layers.flatten(base);
    case 'Reshape':
      return tf.layers.reshape({ ...base, targetShape: spec.targetShape });
    case 'Dense':
      return tf.layers.dense({
        ...base,
        units: spec.units,
        activation: spec.activation,
        useBias: spec.useBias,
        kernelInitializer: initializer(spec.kernelInitializer),
        biasInitializer: initializer(spec.biasInitializer),
      });
    case 'Dropout':
      return tf.layers.dropout({
        ...base,
        rate: spec.rate,
        ...(spec.seed === null ? {} : { seed: spec.seed }),
        ...(spec.noiseShape === null ? {} : { noiseShape: spec.noiseShape as number[] }),
      });
  }
}

/**
 * The input the model is built with. The pipeline feeds [N, 28, 28, 1]; a (28, 28) input only ever
 * feeds a Flatten or Reshape (checked when the config was read), which give identical results on
 * (28, 28, 1) since the element order is the same, so such a model is built with (28, 28, 1).
 */
export function builtInputShape(spec: ModelSpec): number[] {
  return spec.input.shape.join() === '28,28' ? FASHION_MNIST_INPUT : spec.input.shape;
}

/**
 * The model `spec` describes, with fresh weights from its initializers. Sequential stays
 * Sequential (its `layers` start at the first real layer, as in Keras), Functional keeps its
 * InputLayer first. The input layer keeps the file's name.
 */
export function buildFromSpec(spec: ModelSpec, file: string): tf.LayersModel {
  const batchShape = [null, ...builtInputShape(spec)];
  const input = tf.input({ batchShape, name: spec.input.name, dtype: 'float32' });
  let model: tf.LayersModel | undefined;
  try {
    const sequential = spec.className === 'Sequential';
    // The first layer of a Sequential also carries the input shape, so that the model's own
    // topology (toJSON, a saved model.json) rebuilds in TensorFlow.js without us.
    const layers = spec.layers.map((l, i) => layer(l, sequential && i === 0 ? batchShape : undefined));
    if (sequential) {
      const seq = tf.sequential({ name: spec.name });
      // Applied to our own input first, so that the model's InputLayer has the file's name.
      layers[0].apply(input);
      for (const l of layers) seq.add(l);
      model = seq;
    } else {
      const outputs = new Map<string, tf.SymbolicTensor>([[spec.input.name, input]]);
      layers.forEach((l, i) => outputs.set(l.name, l.apply(outputs.get(spec.inbound[i])!) as tf.SymbolicTensor));
      model = tf.model({ inputs: input, outputs: outputs.get(spec.output)!, name: spec.name });
    }
    // Some shape errors (a Reshape to another element count) only show when data flows.
    tf.tidy(() => {
      model!.predict(tf.zeros([1, ...builtInputShape(spec)]));
    });
  } catch (err) {
    model?.dispose();
    throw badModel(file, `the architecture does not build (${(err as Error).message})`, SAVE_AGAIN);
  }
  if (!spec.trainable) model.trainable = false;
  const out = model.outputs[0].shape;
  if (out.length !== 2 || out[1] !== FASHION_MNIST_CLASSES) {
    model.dispose();
    throw badModel(file, `the model outputs ${pyShape(out)}, not one score per Fashion-MNIST class (None, 10)`, 'pass a model whose last layer is Dense(10, ...)');
  }
  return model;
}

/**
 * Puts the file's weights into `model` (built from `spec`). Every layer's weights are checked
 * against the architecture first, so a mismatch changes nothing and names every layer concerned.
 */
export function applyWeights(model: tf.LayersModel, spec: ModelSpec, weights: LayerWeights, file: string): void {
  const problems: string[] = [];
  for (const { name } of spec.layers) {
    const needed = model.getLayer(name).weights;
    const given = weights.get(name) ?? [];
    needed.forEach((w, i) => {
      const role = w.originalName.split('/').at(-1);
      const g = given[i];
      if (!g) problems.push(`layer ${name}: its ${role} ${pyShape(w.shape)} is missing`);
      else if (g.shape.join() !== w.shape.join()) problems.push(`layer ${name}: ${g.path} has shape ${pyShape(g.shape)}, the architecture needs ${pyShape(w.shape)}`);
    });
    for (const extra of given.slice(needed.length)) problems.push(`layer ${name}: ${extra.path} ${pyShape(extra.shape)} has no place in the architecture`);
  }
  if (problems.length > 0) {
    throw badModel(file, `the weights do not fit the architecture: ${problems.join('; ')}`, `the file is damaged or was assembled by hand: ${SAVE_AGAIN}`);
  }
  for (const { name } of spec.layers) {
    const l = model.getLayer(name);
    const given = weights.get(name) ?? [];
    const tensors = given.map((g) => tf.tensor(g.data, g.shape, 'float32'));
    l.setWeights(tensors);
    tf.dispose(tensors);
  }
}
