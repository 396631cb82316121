/**
 * Where the network looks: Grad-CAM (Selvaraju et al., 2017) on the last conv layer and plain
 * input-gradient saliency (Simonyan et al., 2014), for a batch of 28 x 28 images.
 *
 * The model is run layer by layer along the path from its input to its output (every layer the
 * pipeline reads or imports takes one input, so that path is all the output depends on), which
 * gives the conv layer's output as a tensor of its own to take the gradient with respect to.
 */
import { IMAGE_SHAPE, IMAGE_SIZE, PIXELS } from '../catalog/dataset.js';
import { tf } from '../tfjs/tf.js';

export interface Attention {
  /** argmax class */
  predicted: number;
  /** the 10 outputs of the model (softmax probabilities for the book's model) */
  probabilities: number[];
  /** the class whose score the maps explain: `classIndex` when given, else `predicted` */
  classIndex: number;
  /**
   * Grad-CAM of `classIndex` on the last conv layer, upsampled to 28 x 28 (bilinear, half-pixel
   * centres), relu'd, scaled to [0, 1] by its maximum (all 0 when nothing is positive).
   */
  cam: Float32Array;
  /** Grad-CAM's channel weights: the class score's gradient w.r.t. the layer's output, averaged over space (one per channel). */
  weights: Float32Array;
  /** |d score / d input|, 28 x 28, scaled to [0, 1] by its maximum (all 0 when the gradient is 0) */
  saliency: Float32Array;
  /** the conv layer Grad-CAM used */
  layer: string;
  /** what the maps explain: the class's log-odds from the pre-softmax logits, or the output itself when the last layer is not a softmax Dense */
  score: Score;
}

export type Score = 'log-odds' | 'output';

type Layer = tf.layers.Layer;

/** The layers from the model's input to its output, input layer excluded, in the order they run. */
export function outputPath(model: tf.LayersModel): Layer[] {
  const path: Layer[] = [];
  let layer: Layer = model.outputs[0].sourceLayer as Layer;
  let node = model.outputs[0].nodeIndex;
  while (layer.getClassName() !== 'InputLayer') {
    path.push(layer);
    const inbound = layer.inboundNodes[node];
    if (inbound?.inboundLayers.length !== 1) {
      throw new Error(`grad-cam: layer ${layer.name} does not take exactly one input; only chains of single-input layers are supported`);
    }
    node = inbound.nodeIndices[0];
    layer = inbound.inboundLayers[0] as Layer;
  }
  return path.reverse();
}

/** Where on the path the last Conv2D is, the layer Grad-CAM explains; -1 for a network without one. */
function lastConvIndex(path: Layer[]): number {
  for (let i = path.length - 1; i >= 0; i--) if (path[i].getClassName() === 'Conv2D') return i;
  return -1;
}

/** The conv layer Grad-CAM explains: the last Conv2D on the path to the output; null for a network without one. */
export function lastConvLayer(model: tf.LayersModel): string | null {
  const path = outputPath(model);
  const at = lastConvIndex(path);
  return at < 0 ? null : path[at].name;
}

/**
 * The class scores from the layers after the conv layer: the pre-softmax logits when the model
 * ends in Dense(..., activation='softmax') (the book's model does), computed here as that layer
 * computes them before its activation (x W + b); any other last layer's output as it is.
 */
function head(layers: Layer[]): { scores: (x: tf.Tensor) => tf.Tensor2D; logits: boolean } {
  const last = layers[layers.length - 1];
  const config = last.getConfig();
  const softmaxDense = last.getClassName() === 'Dense' && config.activation === 'softmax';
  const before = softmaxDense ? layers.slice(0, -1) : layers;
  const run = (x: tf.Tensor) => before.reduce((t, l) => l.apply(t, { training: false }) as tf.Tensor, x);
  if (!softmaxDense) return { scores: (x) => run(x) as tf.Tensor2D, logits: false };
  const [kernel, bias] = last.getWeights();
  return {
    scores: (x) => {
      const z = tf.matMul<tf.Tensor2D>(run(x), kernel);
      return config.useBias === false || !bias ? z : (tf.add(z, bias) as tf.Tensor2D);
    },
    logits: true,
  };
}

/**
 * The score both maps explain, summed over the batch (no layer mixes images at inference, so the
 * gradient of the sum is each image's own). With logits: the class's log-odds,
 * log(p_c / (1 - p_c)) = z_c - logsumexp_{j != c} z_j, not the bare logit z_c. The softmax
 * ignores whatever raises every logit alike, yet z_c's gradient includes it: on the book's model
 * the bare logit's Grad-CAM of the ankle boot puts half its mass on the empty top-left background
 * (where the sandal's and sneaker's logit Grad-CAMs lie too), the log-odds' 91% on the boot. Its
 * gradient points where the probability's does (d log-odds = d p_c / (p_c (1 - p_c))) without the
 * probability's float32 trouble: at p_c = 0.99999 the softmax's 1 - p_c is rounding noise.
 */
function classScore(scores: tf.Tensor2D, pick: tf.Tensor2D, score: Score): tf.Scalar {
  const own = tf.sum(tf.mul(scores, pick), 1);
  if (score === 'output') return tf.sum(own);
  // The class's own logit pushed to -1e30 drops out of the log-sum-exp (its exp underflows to 0).
  const others = tf.logSumExp(tf.sub(scores, tf.mul(pick, 1e30)), 1);
  return tf.sum(tf.sub(own, others));
}

/**
 * Bilinear resize of an h x w map to `out` x `out` with half-pixel centres, as OpenCV's resize and
 * TF2's tf.image.resize do (TF1's default, align_corners=False without half-pixel centres, shifts
 * the map by half a source pixel); samples beyond the edge take the edge's value.
 */
export function upsampleBilinear(map: Float32Array, h: number, w: number, out = IMAGE_SIZE): Float32Array {
  const result = new Float32Array(out * out);
  const coord = (i: number, n: number) => {
    const s = Math.min(Math.max(((i + 0.5) * n) / out - 0.5, 0), n - 1);
    const lo = Math.floor(s);
    return { lo, hi: Math.min(lo + 1, n - 1), t: s - lo };
  };
  for (let y = 0; y < out; y++) {
    const r = coord(y, h);
    for (let x = 0; x < out; x++) {
      const c = coord(x, w);
      const top = map[r.lo * w + c.lo] * (1 - c.t) + map[r.lo * w + c.hi] * c.t;
      const bottom = map[r.hi * w + c.lo] * (1 - c.t) + map[r.hi * w + c.hi] * c.t;
      result[y * out + x] = top * (1 - r.t) + bottom * r.t;
    }
  }
  return result;
}

/** Divides by the maximum so the largest value is 1; an array whose maximum is not positive becomes all 0. */
function scaleToUnit(values: Float32Array): Float32Array {
  const max = values.reduce((m, v) => Math.max(m, v), 0);
  return max > 0 ? values.map((v) => v / max) : new Float32Array(values.length);
}

const argMax = (xs: number[]) => xs.reduce((best, x, i) => (x > xs[best] ? i : best), 0);

/**
 * Grad-CAM and saliency of each image for `classIndex[i]` (default: its predicted class). null
 * when the model has no conv layer (a dense network). Images: 784 floats in [0, 1] each.
 */
export function explain(model: tf.LayersModel, images: Float32Array[], classIndex?: number[]): Attention[] | null {
  const path = outputPath(model);
  const convAt = lastConvIndex(path);
  if (convAt < 0) return null;
  if (images.length === 0) return [];
  images.forEach((img, i) => {
    if (img.length !== PIXELS) throw new Error(`grad-cam: image ${i} has ${img.length} values, not ${PIXELS}`);
  });
  if (classIndex && classIndex.length !== images.length) throw new Error(`grad-cam: ${classIndex.length} class indices for ${images.length} images`);
  const n = images.length;
  const upTo = path.slice(0, convAt + 1);
  const { scores, logits } = head(path.slice(convAt + 1));
  const score: Score = logits ? 'log-odds' : 'output';
  const features = (x: tf.Tensor) => upTo.reduce((t, l) => l.apply(t, { training: false }) as tf.Tensor, x) as tf.Tensor4D;

  const batch = new Float32Array(n * PIXELS);
  images.forEach((img, i) => batch.set(img, i * PIXELS));

  const raw = tf.tidy(() => {
    const x = tf.tensor4d(batch, [n, ...IMAGE_SHAPE] as [number, number, number, number]);
    const conv = features(x);
    // What the model outputs (its softmax probabilities), for the prediction.
    const outputs = (model.predict(x) as tf.Tensor2D).arraySync();
    const classes = classIndex ?? outputs.map(argMax);
    classes.forEach((c, i) => {
      if (!Number.isInteger(c) || c < 0 || c >= outputs[i].length) throw new Error(`grad-cam: class index ${c} of image ${i} is not one of the model's ${outputs[i].length} classes`);
    });
    const pick = tf.oneHot(tf.tensor1d(classes, 'int32'), outputs[0].length).toFloat() as tf.Tensor2D;
    const dConv = tf.grad((a: tf.Tensor) => classScore(scores(a), pick, score))(conv);
    const dInput = tf.grad((img: tf.Tensor) => classScore(scores(features(img)), pick, score))(x);
    const weights = tf.mean(dConv, [1, 2]); // [n, channels]
    const cam = tf.relu(tf.sum(tf.mul(conv, weights.reshape([n, 1, 1, -1])), 3)); // [n, h, w]
    return {
      outputs,
      classes,
      weights: weights.dataSync() as Float32Array,
      cam: cam.dataSync() as Float32Array,
      saliency: tf.abs(dInput).dataSync() as Float32Array,
      shape: conv.shape,
    };
  });
  const [, h, w, channels] = raw.shape;
  return raw.outputs.map((probabilities, i) => ({
    predicted: argMax(probabilities),
    probabilities,
    classIndex: raw.classes[i],
    cam: scaleToUnit(upsampleBilinear(raw.cam.subarray(i * h * w, (i + 1) * h * w), h, w)),
    weights: raw.weights.slice(i * channels, (i + 1) * channels),
    saliency: scaleToUnit(raw.saliency.slice(i * PIXELS, (i + 1) * PIXELS)),
    layer: path[convAt].name,
    score,
  }));
}

/**
 * How much of a map's mass lies on the object: the share of the image's pixels above `threshold`
 * (Fashion-MNIST's background is exactly 0, so the default 0 keeps every pixel of the garment) and
 * the share of the map's sum on them (null for an all-zero map, which has no mass to place).
 */
export function massOnObject(image: Float32Array, map: Float32Array, threshold = 0): { objectShare: number; onObject: number | null } {
  let object = 0;
  let inside = 0;
  let total = 0;
  for (let p = 0; p < image.length; p++) {
    total += map[p];
    if (image[p] > threshold) {
      object++;
      inside += map[p];
    }
  }
  return { objectShare: object / image.length, onObject: total > 0 ? inside / total : null };
}
