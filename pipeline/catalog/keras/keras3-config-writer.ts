/**
 * A ModelSpec as Keras 3's config.json, key for key as Keras 3.4.1 writes it (the book's
 * `.keras`): module, class_name, config, registered_name and build_config per layer, DTypePolicy
 * objects, `batch_shape`. Left out on purpose: `compile_config` (no optimizer is exported; Keras
 * loads the model uncompiled) and `shared_object_id` (an id of a Python object in the process
 * that saved the file, which Keras treats as optional).
 */
import type { InitializerSpec, LayerSpec, ModelSpec } from './spec.js';

type Json = Record<string, unknown>;
/** A layer's input shape with the batch axis (null). */
export type InputShapes = Map<string, (number | null)[]>;

const policy = (): Json => ({ module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' }, registered_name: null });

const initializer = (i: InitializerSpec): Json => ({ module: 'keras.initializers', class_name: i.className, config: { ...i.config }, registered_name: null });

function layerConfig(l: LayerSpec): Json {
  const base = { name: l.name, trainable: l.trainable, dtype: policy() };
  switch (l.className) {
    case 'Conv2D':
      return {
        ...base,
        filters: l.filters,
        kernel_size: l.kernelSize,
        strides: l.strides,
        padding: l.padding,
        data_format: 'channels_last',
        dilation_rate: l.dilationRate,
        groups: 1,
        activation: l.activation,
        use_bias: l.useBias,
        kernel_initializer: initializer(l.kernelInitializer),
        bias_initializer: initializer(l.biasInitializer),
        kernel_regularizer: null,
        bias_regularizer: null,
        activity_regularizer: null,
        kernel_constraint: null,
        bias_constraint: null,
      };
    case 'MaxPooling2D':
      return { ...base, pool_size: l.poolSize, padding: l.padding, strides: l.strides, data_format: 'channels_last' };
    case 'Flatten':
      return { ...base, data_format: 'channels_last' };
    case 'Reshape':
      return { ...base, target_shape: l.targetShape };
    case 'Dense':
      return {
        ...base,
        units: l.units,
        activation: l.activation,
        use_bias: l.useBias,
        kernel_initializer: initializer(l.kernelInitializer),
        bias_initializer: initializer(l.biasInitializer),
        kernel_regularizer: null,
        bias_regularizer: null,
        kernel_constraint: null,
        bias_constraint: null,
      };
    case 'Dropout':
      return { ...base, rate: l.rate, seed: l.seed, noise_shape: l.noiseShape };
  }
}

export function keras3Config(spec: ModelSpec, inputShapes: InputShapes): Json {
  const batchShape = [null, ...spec.input.shape];
  const inputLayer: Json = {
    module: 'keras.layers',
    class_name: 'InputLayer',
    config: { batch_shape: batchShape, dtype: 'float32', sparse: false, name: spec.input.name },
    registered_name: null,
  };
  const shapeOf = (name: string): (number | null)[] => {
    const s = inputShapes.get(name);
    if (!s) throw new Error(`no input shape for layer ${name}`);
    return s;
  };
  const layers = spec.layers.map((l): Json => ({
    module: 'keras.layers',
    class_name: l.className,
    config: layerConfig(l),
    registered_name: null,
    build_config: { input_shape: shapeOf(l.name) },
  }));
  if (spec.className === 'Sequential') {
    return {
      module: 'keras',
      class_name: 'Sequential',
      config: { name: spec.name, trainable: spec.trainable, dtype: policy(), layers: [inputLayer, ...layers], build_input_shape: batchShape },
      registered_name: null,
      build_config: { input_shape: batchShape },
    };
  }
  // Functional: each layer also names itself and the tensor it was called on.
  const tensor = (from: string, shape: (number | null)[]): Json => ({
    class_name: '__keras_tensor__',
    config: { shape, dtype: 'float32', keras_history: [from, 0, 0] },
  });
  return {
    module: 'keras.src.models.functional',
    class_name: 'Functional',
    config: {
      name: spec.name,
      trainable: spec.trainable,
      layers: [
        { ...inputLayer, name: spec.input.name, inbound_nodes: [] },
        ...layers.map((l, i) => ({
          ...l,
          name: spec.layers[i].name,
          inbound_nodes: [{ args: [tensor(spec.inbound[i], shapeOf(spec.layers[i].name))], kwargs: {} }],
        })),
      ],
      input_layers: [spec.input.name, 0, 0],
      output_layers: [spec.output, 0, 0],
    },
    registered_name: 'Functional',
    build_config: { input_shape: null },
  };
}
