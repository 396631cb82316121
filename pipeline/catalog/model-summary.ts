/**
 * The model's layer table (Keras's `model.summary()`: name, type, output shape, params) read from a
 * saved model.json alone: output shapes follow from each layer's config, parameter counts from the
 * weights manifest. No TensorFlow.js needed, so figures and reports stay fast.
 */
import { readFile } from 'node:fs/promises';
import { BadInputError } from '../core/errors.js';

export interface LayerRow {
  name: string;
  /** Keras class name, e.g. "Conv2D" */
  type: string;
  /** without the batch axis, e.g. [28, 28, 32] */
  output_shape: number[];
  params: number;
  /** activation, pool size, rate...: the config worth a glance */
  detail: string;
  /** the same as data, for pages that print it in their own language */
  settings: LayerSettings;
}

export type LayerSettings =
  | { kind: 'conv'; filters: number; kernel: string; padding: string; activation: string }
  | { kind: 'pool'; pool: string }
  | { kind: 'dense'; units: number; activation: string }
  | { kind: 'dropout'; rate: number }
  | { kind: 'none' };

export interface ModelSummary {
  input_shape: number[];
  layers: LayerRow[];
  total_params: number;
}

interface LayerJson {
  class_name: string;
  config: Record<string, unknown>;
}

interface ModelJsonFile {
  modelTopology?: { model_config?: { config?: { layers?: LayerJson[] } }; config?: { layers?: LayerJson[] } };
  weightsManifest?: { weights: { name: string; shape: number[] }[] }[];
}

const pair = (v: unknown, fallback: number): [number, number] =>
  Array.isArray(v) ? [Number(v[0]), Number(v[1] ?? v[0])] : typeof v === 'number' ? [v, v] : [fallback, fallback];

/** Keras's output length of a conv or pooling window along one axis. */
function windowOut(size: number, window: number, stride: number, padding: unknown): number {
  return padding === 'same' ? Math.ceil(size / stride) : Math.floor((size - window) / stride) + 1;
}

function outputShape(layer: LayerJson, input: number[], where: string): { shape: number[]; detail: string; settings: LayerSettings } {
  const c = layer.config;
  switch (layer.class_name) {
    case 'InputLayer':
      return { shape: input, detail: '', settings: { kind: 'none' } };
    case 'Conv2D': {
      const [kh, kw] = pair(c.kernel_size, 1);
      const [sh, sw] = pair(c.strides, 1);
      return {
        shape: [windowOut(input[0], kh, sh, c.padding), windowOut(input[1], kw, sw, c.padding), Number(c.filters)],
        detail: `${c.filters} filters ${kh}x${kw}, ${c.padding ?? 'valid'}, ${c.activation ?? 'linear'}`,
        settings: { kind: 'conv', filters: Number(c.filters), kernel: `${kh}x${kw}`, padding: String(c.padding ?? 'valid'), activation: String(c.activation ?? 'linear') },
      };
    }
    case 'MaxPooling2D':
    case 'AveragePooling2D': {
      const [ph, pw] = pair(c.pool_size, 2);
      const [sh, sw] = c.strides == null ? [ph, pw] : pair(c.strides, ph);
      return {
        shape: [windowOut(input[0], ph, sh, c.padding), windowOut(input[1], pw, sw, c.padding), input[2]],
        detail: `pool ${ph}x${pw}`,
        settings: { kind: 'pool', pool: `${ph}x${pw}` },
      };
    }
    case 'Flatten':
      return { shape: [input.reduce((a, b) => a * b, 1)], detail: '', settings: { kind: 'none' } };
    case 'Dense':
      return {
        shape: [...input.slice(0, -1), Number(c.units)],
        detail: `${c.units} units, ${c.activation ?? 'linear'}`,
        settings: { kind: 'dense', units: Number(c.units), activation: String(c.activation ?? 'linear') },
      };
    case 'Dropout':
      return { shape: input, detail: `rate ${c.rate}`, settings: { kind: 'dropout', rate: Number(c.rate) } };
    default:
      throw new BadInputError(`${where}: layer ${String(c.name)} has type ${layer.class_name}, which the layer table does not know (Conv2D, MaxPooling2D, Flatten, Dense, Dropout)`);
  }
}

/** The layer table of a parsed model.json (`where` names the file in errors). */
export function summarizeModel(json: unknown, where: string): ModelSummary {
  const file = json as ModelJsonFile;
  const topology = file?.modelTopology;
  const layers = topology?.model_config?.config?.layers ?? topology?.config?.layers;
  if (!Array.isArray(layers) || layers.length === 0) {
    throw new BadInputError(`${where} has no layer list in modelTopology: re-create it (npm run pipeline -- --only checkpoint --force)`);
  }
  const first = layers[0].config;
  const batchShape = (first.batch_input_shape ?? first.batch_shape) as (number | null)[] | undefined;
  if (!Array.isArray(batchShape)) throw new BadInputError(`${where}: the first layer has no batch_input_shape`);
  const inputShape = batchShape.slice(1).map(Number);

  const params = new Map<string, number>();
  for (const group of file.weightsManifest ?? []) {
    for (const w of group.weights) {
      const parts = w.name.split('/');
      const layer = parts.length > 1 ? parts[parts.length - 2] : w.name;
      params.set(layer, (params.get(layer) ?? 0) + w.shape.reduce((a, b) => a * b, 1));
    }
  }

  let shape = inputShape;
  const rows = layers.map((layer) => {
    const out = outputShape(layer, shape, where);
    shape = out.shape;
    const name = String(layer.config.name);
    return { name, type: layer.class_name, output_shape: out.shape, params: params.get(name) ?? 0, detail: out.detail, settings: out.settings };
  });
  return { input_shape: inputShape, layers: rows, total_params: rows.reduce((n, r) => n + r.params, 0) };
}

export async function readModelSummary(modelJsonPath: string): Promise<ModelSummary> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(modelJsonPath, 'utf8'));
  } catch (err) {
    throw new BadInputError(`cannot read ${modelJsonPath} (${(err as Error).message}): re-create it (npm run pipeline -- --only checkpoint --force)`);
  }
  return summarizeModel(json, modelJsonPath);
}
