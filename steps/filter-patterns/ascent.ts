/**
 * Activation maximisation: for each filter of a conv layer, the 28 x 28 input that most excites it,
 * found by seeded gradient ascent on the filter's mean pre-activation (the conv's output before
 * its ReLU, averaged over positions), with a small L2 penalty and pixels clamped to [0, 1].
 *
 * Why the conv is never run during the ascent: a convolution is linear, so the mean over positions
 * of output channel k is a fixed weighting of the conv's *input*, G_k (each input value weighted by
 * the sum of the kernel taps that see it, over the number of positions), plus the bias b_k. The
 * objective of filter k is then <prefix(x), G_k> + b_k, where prefix is the functional sub-model up
 * to the conv's input (the chapter's `tf.model({inputs, outputs})`, which keeps every earlier
 * layer as the model has it). For conv2d_1 that turns the ~1 GFLOP forward/backward through
 * conv2d -> pool -> conv2d_1 for 64 inputs into conv2d -> pool and a dot product (~60 MFLOP),
 * exact up to float rounding; what a step still costs (15-50 ms on wasm) is the big elementwise
 * passes over conv2d's 64 x 28 x 28 x 32 maps. The conv's own linear output (its kernel and bias
 * applied here with tf.conv2d, no activation: the layer itself would apply its ReLU) is computed
 * at the start and the end only, for the recorded means and maxima.
 */
import seedrandom from 'seedrandom';
import { IMAGE_SHAPE, PIXELS } from '../../pipeline/catalog/dataset.js';
import { tf } from '../../pipeline/tfjs/tf.js';

export interface AscentSettings {
  steps: number;
  /** the first step's size, in pixel units per unit RMS of the normalised gradient; decays linearly to 0 */
  stepSize: number;
  /** λ of the penalty λ · mean(x²) over an input's pixels */
  penalty: number;
  seed: number;
  /** the seeded start: uniform noise in [low, high] */
  start: { low: number; high: number };
}

export interface FilterOutcome {
  /** mean over positions of the pre-activation at the found input: what the ascent maximised */
  mean: number;
  /** the largest pre-activation at any position at the found input */
  max: number;
  /** the mean pre-activation at the seeded start */
  start_mean: number;
  /** the largest pre-activation at any position at the seeded start */
  start_max: number;
  /** see isDead */
  dead: boolean;
}

/**
 * A filter is dead when it fires nowhere (its pre-activation is <= 0 at every position, so its ReLU
 * passes nothing on) both at the seeded start, a full-contrast noise, and at the input the ascent found
 * for it. Not "at the found input" alone: the ascent maximises the MEAN, and for a first-layer
 * filter whose weights sum below 0 the best mean is a blank input, on which it is 0 everywhere
 * although an edge would make it fire; the noise, which has edges everywhere, does.
 */
export function isDead(startMax: number, max: number): boolean {
  return !(startMax > 0) && !(max > 0);
}

export interface LayerPatterns {
  layer: string;
  /** the layer whose output it reads; null for the model's input (the image) */
  reads: string | null;
  /** [filters, 28, 28], C order */
  inputs: Float32Array;
  filters: FilterOutcome[];
}

/** Indices of the model's Conv2D layers, in order. */
export function convLayerIndices(model: tf.LayersModel): number[] {
  return model.layers.flatMap((l, i) => (l.getClassName() === 'Conv2D' ? [i] : []));
}

/** The seeded start, one image per filter: the same for every layer and model of a seed (seedrandom, never Math.random). */
export function startImages(filters: number, seed: number, range: { low: number; high: number }): Float32Array {
  const rng = seedrandom.alea(`filter-patterns:${seed}`);
  return Float32Array.from({ length: filters * PIXELS }, () => range.low + (range.high - range.low) * rng());
}

type Pair = [number, number];
const pair = (v: unknown): Pair => (Array.isArray(v) ? [Number(v[0]), Number(v[1] ?? v[0])] : [Number(v ?? 1), Number(v ?? 1)]);

/** The conv's linear output (kernel and bias, no activation), as the layer computes it before its activation. */
function linearConv(layer: tf.layers.Layer): (input: tf.Tensor4D) => tf.Tensor4D {
  const config = layer.getConfig();
  const [kernel, bias] = layer.getWeights() as [tf.Tensor4D, tf.Tensor1D | undefined];
  const strides = pair(config.strides);
  const dilations = pair(config.dilationRate);
  const padding = config.padding === 'same' ? 'same' : 'valid';
  return (input) => {
    const out = tf.conv2d(input, kernel, strides, padding, 'NHWC', dilations);
    return config.useBias !== false && bias ? tf.add(out, bias) : out;
  };
}

/** For input k, channel k of `maps` [F, H, W, F]: [F, H, W]. */
function ownChannels(maps: tf.Tensor4D): tf.Tensor3D {
  const filters = maps.shape[3];
  return tf.tidy(() => tf.sum(tf.mul(maps, tf.reshape(tf.eye(filters), [filters, 1, 1, filters])), 3) as tf.Tensor3D);
}

/**
 * Gradient ascent for every filter of conv layer `index` at once: one input per filter, one batch,
 * so that a step is one forward/backward pass. The same settings give bit-identical inputs on one backend.
 */
export function ascendLayer(model: tf.LayersModel, index: number, settings: AscentSettings): LayerPatterns {
  const layer = model.layers[index];
  const linear = linearConv(layer);
  const inputSymbol = layer.input as tf.SymbolicTensor;
  const fromImage = model.inputs.includes(inputSymbol);
  // The functional API up to the conv's input; it shares the model's layers and weights, so it is never disposed on its own.
  const prefix = fromImage ? null : tf.model({ inputs: model.inputs, outputs: inputSymbol });
  const run = (x: tf.Tensor4D) => (prefix ? (prefix.apply(x, { training: false }) as tf.Tensor4D) : x);
  const filters = Number(layer.getConfig().filters);
  const inShape = inputSymbol.shape.slice(1) as [number, number, number];

  // G_k and b_k: the gradient and the value of filter k's mean linear output at a zero input.
  const [weighting, offset] = tf.tidy(() => {
    const meanOwn = (p: tf.Tensor4D) => tf.mean(ownChannels(linear(p)), [1, 2]);
    const zeros = tf.zeros<tf.Rank.R4>([filters, ...inShape]);
    const g = tf.grad((p: tf.Tensor) => tf.sum(meanOwn(p as tf.Tensor4D)))(zeros);
    return [g, meanOwn(zeros)];
  });

  const objective = (x: tf.Tensor4D) => tf.add(tf.sum(tf.mul(run(x), weighting), [1, 2, 3]), offset) as tf.Tensor1D;
  const shape: [number, number, number, number] = [filters, ...IMAGE_SHAPE];
  let x = tf.tensor4d(startImages(filters, settings.seed, settings.start), shape);
  // The conv's own linear output: the recorded means and maxima, at the start and at the end.
  const measure = (input: tf.Tensor4D) =>
    tf.tidy(() => {
      const own = ownChannels(linear(run(input)));
      return [tf.mean(own, [1, 2]), tf.max(own, [1, 2])];
    });
  const [startMean, startMax] = measure(x);
  const gradient = tf.grad((input: tf.Tensor) => tf.sum(objective(input as tf.Tensor4D)));
  for (let step = 0; step < settings.steps; step++) {
    const size = settings.stepSize * (1 - step / settings.steps);
    const next = tf.tidy(() => {
      // The penalty λ · mean(x²) has gradient 2λx / pixels.
      const g = tf.sub(gradient(x), tf.mul(x, (2 * settings.penalty) / PIXELS));
      // Each input's step is its own gradient over its RMS: filters whose means differ by orders of
      // magnitude all move at the same pace, and the linear decay lets each settle.
      // (+ a tiny constant rather than divNoNan, whose broadcast Equal is a slow loop on wasm)
      const rms = tf.add(tf.sqrt(tf.mean(tf.square(g), [1, 2, 3], true)), 1e-30);
      return tf.clipByValue(tf.add(x, tf.mul(tf.div(g, rms), size)), 0, 1) as tf.Tensor4D;
    });
    x.dispose();
    x = next;
  }

  const [mean, max] = measure(x);
  const values = { mean: mean.dataSync(), max: max.dataSync(), startMean: startMean.dataSync(), startMax: startMax.dataSync() };
  const inputs = x.dataSync() as Float32Array;
  tf.dispose([x, mean, max, startMean, startMax, weighting, offset]);
  return {
    layer: layer.name,
    reads: fromImage ? null : inputSymbol.sourceLayer.name,
    inputs: Float32Array.from(inputs),
    filters: Array.from({ length: filters }, (_, k) => ({
      mean: values.mean[k],
      max: values.max[k],
      start_mean: values.startMean[k],
      start_max: values.startMax[k],
      dead: isDead(values.startMax[k], values.max[k]),
    })),
  };
}
