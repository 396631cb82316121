/**
 * A model's architecture as Keras wrote it, to a ModelSpec. One reader for the three dialects:
 * Keras 3's config.json (module/registered_name, DTypePolicy objects, `batch_shape`, inbound nodes
 * as `__keras_tensor__` args), tf.keras 2's `model_config` (dtype strings, `batch_input_shape`,
 * inbound nodes as nested lists) and the TensorFlow.js topology (Keras 2's format). Each value is
 * read explicitly from the keys that mean something for inference; regularizers and constraints
 * (training only) are ignored, and any setting that would change what a layer computes and that
 * cnn-lens cannot honour (channels_first, groups, a float16 policy, LoRA, ...) makes the layer
 * unsupported rather than silently different.
 */
import { badModel, PASS_MODEL, SAVE_AGAIN, SUPPORTED } from './problems.js';
import {
  ACTIVATIONS,
  FASHION_MNIST_INPUT,
  LAYER_CLASSES,
  pyShape,
  type Activation,
  type InitializerSpec,
  type LayerClass,
  type LayerSpec,
  type ModelSpec,
  type Padding,
  type Pair,
} from './spec.js';

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Why one layer cannot be used, collected so that one message names every such layer. */
class LayerProblem extends Error {}

function positiveInt(cfg: Json, key: string, fallback?: number): number {
  const v = cfg[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new LayerProblem(`${key} ${JSON.stringify(v)}`);
  return v;
}

function pair(cfg: Json, key: string, fallback: number | Pair): Pair {
  const v = cfg[key] ?? fallback;
  const ok = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 1;
  if (ok(v)) return [v, v];
  if (Array.isArray(v) && v.length === 2 && ok(v[0]) && ok(v[1])) return [v[0], v[1]];
  throw new LayerProblem(`${key} ${JSON.stringify(v)}`);
}

function padding(cfg: Json): Padding {
  const v = cfg.padding ?? 'valid';
  if (v === 'same' || v === 'valid') return v;
  throw new LayerProblem(`padding ${JSON.stringify(v)}`);
}

function bool(cfg: Json, key: string, fallback: boolean): boolean {
  const v = cfg[key] ?? fallback;
  if (typeof v !== 'boolean') throw new LayerProblem(`${key} ${JSON.stringify(v)}`);
  return v;
}

/** Keras 3 writes `"relu"`; a few writers wrap it as `{class_name: "function", config: "relu"}`. */
function activation(cfg: Json): Activation {
  const v = cfg.activation ?? 'linear';
  const name = typeof v === 'string' ? v : isObj(v) && typeof v.config === 'string' ? v.config : undefined;
  if (name !== undefined && (ACTIVATIONS as readonly string[]).includes(name)) return name as Activation;
  throw new LayerProblem(`activation ${JSON.stringify(name ?? v)}`);
}

function channelsLast(cfg: Json): void {
  const v = cfg.data_format;
  if (v !== undefined && v !== null && v !== 'channels_last') throw new LayerProblem(`data_format ${JSON.stringify(v)}`);
}

/** Keras 2: a dtype string; Keras 3: a DTypePolicy object; Keras 2 mixed precision: a Policy object. */
function float32(cfg: Json): void {
  const v = cfg.dtype;
  const name = v === undefined || v === null ? 'float32' : typeof v === 'string' ? v : isObj(v) && isObj(v.config) ? v.config.name : undefined;
  if (name !== 'float32') throw new LayerProblem(`dtype ${JSON.stringify(name ?? v)}`);
}

const SEEDED = ['GlorotUniform', 'GlorotNormal', 'HeUniform', 'HeNormal', 'LecunUniform', 'LecunNormal'];
const ALIASES: Record<string, string> = {
  glorot_uniform: 'GlorotUniform',
  glorot_normal: 'GlorotNormal',
  he_uniform: 'HeUniform',
  he_normal: 'HeNormal',
  lecun_uniform: 'LecunUniform',
  lecun_normal: 'LecunNormal',
  zeros: 'Zeros',
  ones: 'Ones',
  random_normal: 'RandomNormal',
  random_uniform: 'RandomUniform',
  truncated_normal: 'TruncatedNormal',
};

const seedOf = (c: Json): number | null => (typeof c.seed === 'number' ? c.seed : null);
const num = (c: Json, key: string, fallback: number): number => (typeof c[key] === 'number' ? (c[key] as number) : fallback);

/**
 * Keras 3 names what Keras 2 (and tfjs) wrote as VarianceScaling: HeNormal is VarianceScaling(2,
 * fan_in, truncated normal), GlorotUniform VarianceScaling(1, fan_avg, uniform), ...
 */
function namedVarianceScaling(c: Json): string | undefined {
  const distribution = c.distribution === 'normal' || c.distribution === 'truncated_normal' ? 'Normal' : c.distribution === 'uniform' ? 'Uniform' : undefined;
  if (distribution === undefined) return undefined;
  if (c.scale === 1 && c.mode === 'fan_avg') return `Glorot${distribution}`;
  if (c.scale === 2 && c.mode === 'fan_in') return `He${distribution}`;
  if (c.scale === 1 && c.mode === 'fan_in') return `Lecun${distribution}`;
  return undefined;
}

/**
 * The initializers both Keras and TensorFlow.js know, by their Keras 3 names. Any other one
 * becomes the layer's Keras default: an initializer never touches weights read from a file.
 */
function initializer(v: unknown, fallback: 'GlorotUniform' | 'Zeros'): InitializerSpec {
  const name = typeof v === 'string' ? v : isObj(v) && typeof v.class_name === 'string' ? v.class_name : undefined;
  const c: Json = isObj(v) && isObj(v.config) ? v.config : {};
  const cls = name === undefined ? undefined : (ALIASES[name] ?? name);
  if (cls !== undefined && SEEDED.includes(cls)) return { className: cls, config: { seed: seedOf(c) } };
  if (cls === 'VarianceScaling') {
    const named = namedVarianceScaling(c);
    if (named) return { className: named, config: { seed: seedOf(c) } };
  }
  switch (cls) {
    case 'Zeros':
    case 'Ones':
      return { className: cls, config: {} };
    case 'RandomNormal':
    case 'TruncatedNormal':
      return { className: cls, config: { mean: num(c, 'mean', 0), stddev: num(c, 'stddev', 0.05), seed: seedOf(c) } };
    case 'RandomUniform':
      return { className: cls, config: { minval: num(c, 'minval', -0.05), maxval: num(c, 'maxval', 0.05), seed: seedOf(c) } };
    case 'Constant':
      return { className: cls, config: { value: num(c, 'value', 0) } };
    case 'VarianceScaling': {
      // Keras 2 wrote 'normal' for what Keras 3 calls 'truncated_normal' (and tfjs 'normal').
      const distribution = c.distribution === 'normal' ? 'truncated_normal' : c.distribution;
      if ((distribution === 'truncated_normal' || distribution === 'uniform') && ['fan_in', 'fan_out', 'fan_avg'].includes(String(c.mode))) {
        return { className: cls, config: { scale: num(c, 'scale', 1), mode: String(c.mode), distribution, seed: seedOf(c) } };
      }
      break;
    }
  }
  return fallback === 'Zeros' ? { className: 'Zeros', config: {} } : { className: 'GlorotUniform', config: { seed: null } };
}

function parseLayer(cls: LayerClass, name: string, cfg: Json): LayerSpec {
  float32(cfg);
  const trainable = bool(cfg, 'trainable', true);
  switch (cls) {
    case 'Conv2D': {
      channelsLast(cfg);
      if ((cfg.groups ?? 1) !== 1) throw new LayerProblem(`groups ${JSON.stringify(cfg.groups)}`);
      return {
        className: cls,
        name,
        trainable,
        filters: positiveInt(cfg, 'filters'),
        kernelSize: pair(cfg, 'kernel_size', NaN),
        strides: pair(cfg, 'strides', 1),
        padding: padding(cfg),
        dilationRate: pair(cfg, 'dilation_rate', 1),
        activation: activation(cfg),
        useBias: bool(cfg, 'use_bias', true),
        kernelInitializer: initializer(cfg.kernel_initializer, 'GlorotUniform'),
        biasInitializer: initializer(cfg.bias_initializer, 'Zeros'),
      };
    }
    case 'MaxPooling2D': {
      channelsLast(cfg);
      const poolSize = pair(cfg, 'pool_size', 2);
      return { className: cls, name, trainable, poolSize, strides: pair(cfg, 'strides', poolSize), padding: padding(cfg) };
    }
    case 'Flatten':
      channelsLast(cfg);
      return { className: cls, name, trainable };
    case 'Reshape': {
      const t = cfg.target_shape;
      if (!Array.isArray(t) || t.length === 0 || !t.every((d) => Number.isInteger(d) && (d === -1 || d >= 1))) {
        throw new LayerProblem(`target_shape ${JSON.stringify(t)}`);
      }
      return { className: cls, name, trainable, targetShape: t as number[] };
    }
    case 'Dense':
      if (cfg.lora_rank !== undefined && cfg.lora_rank !== null) throw new LayerProblem(`lora_rank ${JSON.stringify(cfg.lora_rank)}`);
      return {
        className: cls,
        name,
        trainable,
        units: positiveInt(cfg, 'units'),
        activation: activation(cfg),
        useBias: bool(cfg, 'use_bias', true),
        kernelInitializer: initializer(cfg.kernel_initializer, 'GlorotUniform'),
        biasInitializer: initializer(cfg.bias_initializer, 'Zeros'),
      };
    case 'Dropout': {
      const rate = cfg.rate;
      if (typeof rate !== 'number' || !(rate >= 0 && rate < 1)) throw new LayerProblem(`rate ${JSON.stringify(rate)}`);
      const noise = cfg.noise_shape ?? null;
      if (noise !== null && !(Array.isArray(noise) && noise.every((d) => d === null || Number.isInteger(d)))) {
        throw new LayerProblem(`noise_shape ${JSON.stringify(noise)}`);
      }
      return { className: cls, name, trainable, rate, seed: typeof cfg.seed === 'number' ? cfg.seed : null, noiseShape: noise as (number | null)[] | null };
    }
  }
}

interface InputInfo {
  name: string;
  /** With the batch axis. */
  batchShape: unknown;
}

/** A tensor reference `[layer, node, tensor]`, or a list holding exactly one. */
function oneTensorRef(v: unknown): [string, number, number] | undefined {
  const isRef = (r: unknown): r is [string, number, number] => Array.isArray(r) && typeof r[0] === 'string' && r[1] === 0 && r[2] === 0;
  if (isRef(v)) return v;
  if (Array.isArray(v) && v.length === 1 && isRef(v[0])) return v[0];
  return undefined;
}

/**
 * The one layer a Functional layer is called on. Keras 3: `[{args: [__keras_tensor__], kwargs}]`
 * with `keras_history: [layer, node, tensor]`; Keras 2 and tfjs: `[[[layer, node, tensor, kwargs]]]`.
 */
function inboundOf(entry: Json): string {
  const nodes = entry.inbound_nodes;
  if (!Array.isArray(nodes) || nodes.length !== 1) throw new LayerProblem(`called ${Array.isArray(nodes) ? nodes.length : 0} times (shared layers are not supported)`);
  const node = nodes[0];
  if (isObj(node)) {
    const args = node.args;
    const t = Array.isArray(args) && args.length === 1 ? args[0] : undefined;
    const history = isObj(t) && isObj(t.config) ? t.config.keras_history : undefined;
    const ref = oneTensorRef(history);
    if (ref) return ref[0];
  } else if (Array.isArray(node) && node.length === 1 && Array.isArray(node[0])) {
    const ref = oneTensorRef(node[0].slice(0, 3));
    if (ref) return ref[0];
  }
  throw new LayerProblem('called on more than one tensor, or not on a layer output');
}

function dims(batchShape: unknown): (number | null)[] | undefined {
  if (!Array.isArray(batchShape) || batchShape.length < 2) return undefined;
  if (!batchShape.every((d) => d === null || (Number.isInteger(d) && d >= 1))) return undefined;
  return batchShape as (number | null)[];
}

/** Parses and checks a model config; every problem is a BadInputError naming `file`. */
export function parseModelConfig(raw: unknown, file: string): ModelSpec {
  // tensorflowjs_converter nests the Keras config under model_config.
  const root = isObj(raw) && isObj(raw.model_config) ? raw.model_config : raw;
  if (!isObj(root)) throw badModel(file, 'the model config is not a JSON object', SAVE_AGAIN);
  const cls = root.class_name;
  const functional = cls === 'Functional' || cls === 'Model';
  if (cls !== 'Sequential' && !functional) {
    throw badModel(
      file,
      `the model is a ${JSON.stringify(cls)}, not a Sequential or Functional model (a subclassed model has no config cnn-lens can rebuild)`,
      'build it with keras.Sequential([...]) or the functional API and save it with model.save(...)',
    );
  }
  // Keras 2.0-2.1 wrote a Sequential config as the bare list of layers.
  const config: Json = Array.isArray(root.config) ? { layers: root.config } : isObj(root.config) ? root.config : {};
  const entries = config.layers;
  if (!Array.isArray(entries) || entries.length === 0) throw badModel(file, 'the model config lists no layers', SAVE_AGAIN);

  const problems: string[] = [];
  const inputs: InputInfo[] = [];
  const layers: LayerSpec[] = [];
  const used: Json[] = [];
  for (const [i, entry] of entries.entries()) {
    const e: Json = isObj(entry) ? entry : {};
    const cfg: Json = isObj(e.config) ? e.config : {};
    const name = typeof cfg.name === 'string' ? cfg.name : typeof e.name === 'string' ? e.name : `layer #${i}`;
    const layerClass = typeof e.class_name === 'string' ? e.class_name : '?';
    if (layerClass === 'InputLayer') {
      try {
        float32(cfg);
      } catch (err) {
        problems.push(`${name} (InputLayer: ${(err as Error).message})`);
      }
      inputs.push({ name, batchShape: cfg.batch_shape ?? cfg.batch_input_shape });
      continue;
    }
    if (!(LAYER_CLASSES as readonly string[]).includes(layerClass)) {
      problems.push(`${name} (${layerClass})`);
      continue;
    }
    try {
      layers.push(parseLayer(layerClass as LayerClass, name, cfg));
      used.push(e);
    } catch (err) {
      if (!(err instanceof LayerProblem)) throw err;
      problems.push(`${name} (${layerClass}: ${err.message})`);
    }
  }
  if (problems.length > 0) {
    throw badModel(file, `unsupported layers: ${problems.join(', ')}`, `${SUPPORTED}; replace those layers, train and save the model again`);
  }
  const names = [...inputs.map((x) => x.name), ...layers.map((l) => l.name)];
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup !== undefined) throw badModel(file, `two layers are named ${JSON.stringify(dup)}`, SAVE_AGAIN);
  if (layers.length === 0) throw badModel(file, 'the model has no layers besides its input', PASS_MODEL);

  const spec = functional ? functionalSpec(root, config, inputs, layers, used, file) : sequentialSpec(root, config, inputs, layers, entries, file);
  checkFashionMnistInput(spec, file);
  return spec;
}

function sequentialSpec(root: Json, config: Json, inputs: InputInfo[], layers: LayerSpec[], entries: unknown[], file: string): ModelSpec {
  if (inputs.length > 1) throw badModel(file, `the Sequential model has ${inputs.length} InputLayers`, SAVE_AGAIN);
  const firstEntry = entries.find((e) => isObj(e) && e.class_name !== 'InputLayer') as Json;
  const firstCfg: Json = isObj(firstEntry.config) ? firstEntry.config : {};
  const buildShape = (v: unknown): unknown => (isObj(v) ? v.input_shape : undefined);
  // Where each writer puts the input shape: an InputLayer (tf.keras 2.4+, Keras 3), the first
  // layer's batch_input_shape (older tf.keras, tfjs), the build shapes of a Sequential built
  // without an Input.
  const batchShape =
    inputs[0]?.batchShape ??
    firstCfg.batch_input_shape ??
    firstCfg.batch_shape ??
    config.build_input_shape ??
    buildShape(root.build_config) ??
    buildShape(firstEntry.build_config);
  const shape = dims(batchShape);
  if (!shape) throw badModel(file, `the model has no usable input shape (${JSON.stringify(batchShape ?? null)}); was it ever built?`, SAVE_AGAIN);
  const inputName = inputs[0]?.name ?? (typeof root.module === 'string' ? 'input_layer' : `${layers[0].name}_input`);
  return {
    className: 'Sequential',
    name: typeof config.name === 'string' ? config.name : 'sequential',
    trainable: typeof config.trainable === 'boolean' ? config.trainable : true,
    input: { name: inputName, shape: shape.slice(1) as number[] },
    layers,
    inbound: layers.map((_, i) => (i === 0 ? inputName : layers[i - 1].name)),
    output: layers[layers.length - 1].name,
  };
}

function functionalSpec(root: Json, config: Json, inputs: InputInfo[], layers: LayerSpec[], used: Json[], file: string): ModelSpec {
  const inRef = oneTensorRef(config.input_layers);
  const outRef = oneTensorRef(config.output_layers);
  if (inputs.length !== 1 || !inRef || !outRef) {
    throw badModel(file, 'the model has more than one input or output', 'cnn-lens needs one image input and one class output: save such a model');
  }
  const [input] = inputs;
  if (inRef[0] !== input.name) throw badModel(file, `input_layers names ${JSON.stringify(inRef[0])}, which is not the InputLayer ${JSON.stringify(input.name)}`, SAVE_AGAIN);
  const shape = dims(input.batchShape);
  if (!shape) throw badModel(file, `the InputLayer has no usable shape (${JSON.stringify(input.batchShape ?? null)})`, SAVE_AGAIN);
  const known = new Set([input.name]);
  const problems: string[] = [];
  const inbound = layers.map((layer, i) => {
    try {
      const from = inboundOf(used[i]);
      // Keras writes the layers in an order where every layer's input comes first.
      if (!known.has(from)) throw new LayerProblem(`takes the output of ${JSON.stringify(from)}, which is not an earlier layer`);
      known.add(layer.name);
      return from;
    } catch (err) {
      if (!(err instanceof LayerProblem)) throw err;
      problems.push(`${layer.name} (${layer.className}: ${err.message})`);
      known.add(layer.name);
      return '';
    }
  });
  if (problems.length > 0) throw badModel(file, `unsupported layers: ${problems.join(', ')}`, `${SUPPORTED}, each called once on one tensor; save such a model`);
  if (!layers.some((l) => l.name === outRef[0])) throw badModel(file, `output_layers names ${JSON.stringify(outRef[0])}, which is not a layer of the model`, SAVE_AGAIN);
  return {
    className: 'Functional',
    name: typeof config.name === 'string' ? config.name : typeof root.name === 'string' ? root.name : 'functional',
    trainable: typeof config.trainable === 'boolean' ? config.trainable : true,
    input: { name: input.name, shape: shape.slice(1) as number[] },
    layers,
    inbound,
    output: outRef[0],
  };
}

/**
 * The pipeline feeds [N, 28, 28, 1]. A (28, 28) input is accepted when only Flatten or Reshape
 * layers read it (chapter 7's `Flatten(input_shape=(28, 28))`): those compute the same from
 * (28, 28, 1), so the model is built with that input instead.
 */
export function checkFashionMnistInput(spec: ModelSpec, file: string): void {
  const shape = spec.input.shape;
  const fix =
    'cnn-lens feeds Fashion-MNIST images, so the input must be (28, 28, 1), or (28, 28) read by a Flatten or Reshape layer: pass a model trained on Fashion-MNIST';
  if (shape.join() === FASHION_MNIST_INPUT.join()) return;
  if (shape.join() !== '28,28') throw badModel(file, `the model's input shape is ${pyShape([null, ...shape])}, not Fashion-MNIST's (None, 28, 28, 1)`, fix);
  const readers = spec.layers.filter((_, i) => spec.inbound[i] === spec.input.name);
  const other = readers.find((l) => l.className !== 'Flatten' && l.className !== 'Reshape');
  if (other) throw badModel(file, `the (None, 28, 28) input is read by ${other.name} (${other.className})`, fix);
}
