/**
 * The one description of a model's architecture that every format converts to and from: the Keras
 * configs (Keras 2 and 3), the TensorFlow.js model built from it, and the Keras 3 config written
 * back. Only what cnn-lens supports can be described here, so a model that made it into a spec
 * builds, runs and exports.
 */

export type Activation = 'relu' | 'softmax' | 'sigmoid' | 'tanh' | 'linear';
export const ACTIVATIONS: readonly Activation[] = ['relu', 'softmax', 'sigmoid', 'tanh', 'linear'];

export type Padding = 'same' | 'valid';
export type Pair = [number, number];

/**
 * An initializer by its Keras 3 class name and config. It decides only the weights of a model that
 * is built and not loaded (the untrained twin), never those read from a file.
 */
export interface InitializerSpec {
  className: string;
  config: Record<string, number | string | null>;
}

interface LayerBase {
  name: string;
  trainable: boolean;
}

export interface Conv2DSpec extends LayerBase {
  className: 'Conv2D';
  filters: number;
  kernelSize: Pair;
  strides: Pair;
  padding: Padding;
  dilationRate: Pair;
  activation: Activation;
  useBias: boolean;
  kernelInitializer: InitializerSpec;
  biasInitializer: InitializerSpec;
}

export interface MaxPooling2DSpec extends LayerBase {
  className: 'MaxPooling2D';
  poolSize: Pair;
  strides: Pair;
  padding: Padding;
}

export interface FlattenSpec extends LayerBase {
  className: 'Flatten';
}

export interface ReshapeSpec extends LayerBase {
  className: 'Reshape';
  targetShape: number[];
}

export interface DenseSpec extends LayerBase {
  className: 'Dense';
  units: number;
  activation: Activation;
  useBias: boolean;
  kernelInitializer: InitializerSpec;
  biasInitializer: InitializerSpec;
}

export interface DropoutSpec extends LayerBase {
  className: 'Dropout';
  rate: number;
  seed: number | null;
  noiseShape: (number | null)[] | null;
}

export type LayerSpec = Conv2DSpec | MaxPooling2DSpec | FlattenSpec | ReshapeSpec | DenseSpec | DropoutSpec;
export type LayerClass = LayerSpec['className'];
export const LAYER_CLASSES: readonly LayerClass[] = ['Conv2D', 'MaxPooling2D', 'Flatten', 'Reshape', 'Dense', 'Dropout'];

export interface ModelSpec {
  className: 'Sequential' | 'Functional';
  name: string;
  trainable: boolean;
  /** The input layer's name and its shape without the batch axis, as the file has it. */
  input: { name: string; shape: number[] };
  /** In the file's order (a topological order), without the InputLayer. */
  layers: LayerSpec[];
  /** Per layer, the name of the layer (or the input) whose output it takes. */
  inbound: string[];
  /** The layer whose output is the model's output. */
  output: string;
}

/** Fashion-MNIST as the pipeline feeds it: [N, 28, 28, 1]. */
export const FASHION_MNIST_INPUT = [28, 28, 1];
export const FASHION_MNIST_CLASSES = 10;

/** A shape the way Keras prints it: (None, 28, 28, 1). */
export function pyShape(shape: readonly (number | null)[]): string {
  const items = shape.map((d) => (d === null ? 'None' : String(d)));
  return items.length === 1 ? `(${items[0]},)` : `(${items.join(', ')})`;
}

/**
 * Keras's `naming.to_snake_case`: a Keras 3 weights file keys a model's layers by their class
 * (conv2d, conv2d_1, max_pooling2d, ...), not by their names.
 */
export function snakeCase(className: string): string {
  return className
    .replace(/\W+/g, '')
    .replace(/(.)([A-Z][a-z]+)/g, '$1_$2')
    .replace(/([a-z])([A-Z])/g, '$1_$2')
    .toLowerCase();
}

/**
 * The group of each layer under `layers/` in a Keras 3 weights file, in the order of
 * `model.layers` (Sequential leaves the InputLayer out, Functional keeps it first): the snake-case
 * class name, then `_1`, `_2`, ... for the next layers of the same class (Keras's
 * `_save_container_state`).
 */
export function weightGroups(classNames: readonly string[]): string[] {
  const used = new Map<string, number>();
  return classNames.map((c) => {
    const base = snakeCase(c);
    const n = used.get(base);
    used.set(base, n === undefined ? 0 : n + 1);
    return n === undefined ? base : `${base}_${n + 1}`;
  });
}

/** One weight as a file holds it; `path` names it in messages (layers/conv2d/vars/0, ...). */
export interface WeightValue {
  path: string;
  shape: number[];
  data: Float32Array;
}

/** Per layer name, its weights in the layer's order (kernel, then bias). */
export type LayerWeights = Map<string, WeightValue[]>;
