/**
 * Keras 3's `.keras`: a zip of metadata.json, config.json and model.weights.h5. The weights file
 * keys layers by class, not by name: `layers/<snake_case class>[_<n>]/vars/<i>` in the order of
 * `model.layers` (see `weightGroups`); tf.keras 2.13-2.15 wrote the same under
 * `_layer_checkpoint_dependencies/`. Optimizer variables (`optimizer/vars`) are not read.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { strFromU8, unzipSync, type Unzipped } from 'fflate';
import { floatData, isDataset, isGroup, readH5, type H5File } from './hdf5.js';
import { parseModelConfig } from './keras-config.js';
import { badModel, PASS_MODEL, SAVE_AGAIN } from './problems.js';
import { weightGroups, type LayerWeights, type ModelSpec, type WeightValue } from './spec.js';
import type { OpenedModel } from './source.js';

export const METADATA = 'metadata.json';
export const CONFIG = 'config.json';
export const WEIGHTS = 'model.weights.h5';

function unzip(bytes: Uint8Array, file: string): Unzipped {
  try {
    return unzipSync(bytes);
  } catch (err) {
    throw badModel(
      file,
      `not a readable zip archive (${(err as Error).message}): the file is truncated or damaged`,
      'copy it again from where it was saved (an interrupted download or copy?)',
    );
  }
}

function json(entries: Unzipped, name: string, file: string): unknown {
  try {
    return JSON.parse(strFromU8(entries[name]));
  } catch (err) {
    throw badModel(file, `${name} in the archive is not valid JSON (${(err as Error).message})`, SAVE_AGAIN);
  }
}

const stringOrNull = (v: unknown): string | null => (typeof v === 'string' ? v : null);

export function openKeras3(path: string, bytes: Uint8Array, sha256: string): OpenedModel {
  const entries = unzip(bytes, path);
  const names = Object.keys(entries);
  if (!entries[CONFIG]) {
    throw badModel(
      path,
      `this archive has no ${CONFIG}, so the model's architecture is missing (it holds ${names.length ? names.join(', ') : 'nothing'})`,
      `${PASS_MODEL}: the whole .keras file, as model.save("best-cnn-model.keras") writes it`,
    );
  }
  const metadata = entries[METADATA] ? json(entries, METADATA, path) : {};
  const meta = typeof metadata === 'object' && metadata !== null ? (metadata as Record<string, unknown>) : {};
  const spec = parseModelConfig(json(entries, CONFIG, path), path);
  const weights = entries[WEIGHTS];
  if (!weights) {
    throw badModel(path, `this archive has no ${WEIGHTS} (it holds ${names.join(', ')}): the weights are missing`, `${SAVE_AGAIN} (the default weights format, h5)`);
  }
  return {
    source: { path, sha256, format: 'keras3', keras_version: stringOrNull(meta.keras_version), date_saved: stringOrNull(meta.date_saved) },
    spec,
    readWeights: () => readKeras3Weights(weights, spec, path),
  };
}

/** h5wasm opens host paths only: the weights file goes through a private temporary folder. */
async function readKeras3Weights(h5: Uint8Array, spec: ModelSpec, file: string): Promise<LayerWeights> {
  const dir = await mkdtemp(join(tmpdir(), 'cnn-lens-keras-'));
  try {
    const tmp = join(dir, WEIGHTS);
    await writeFile(tmp, h5);
    const label = `${file} (${WEIGHTS})`;
    return await readH5(tmp, label, (f) => layerWeights(f, spec, label));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The groups of `model.layers` in a Keras 3 weights file; a Functional model's InputLayer comes first. */
export function keras3Groups(spec: ModelSpec): { input: string | null; layers: string[] } {
  const classes = spec.layers.map((l) => l.className);
  if (spec.className === 'Sequential') return { input: null, layers: weightGroups(classes) };
  const [input, ...layers] = weightGroups(['InputLayer', ...classes]);
  return { input, layers };
}

function layerWeights(f: H5File, spec: ModelSpec, label: string): LayerWeights {
  const root = isGroup(f.get('layers')) ? 'layers' : isGroup(f.get('_layer_checkpoint_dependencies')) ? '_layer_checkpoint_dependencies' : 'layers';
  const groups = keras3Groups(spec).layers;
  const out: LayerWeights = new Map();
  spec.layers.forEach((layer, i) => {
    const path = `${root}/${groups[i]}/vars`;
    const vars = f.get(path);
    const values: WeightValue[] = [];
    if (isGroup(vars)) {
      const keys = vars.keys().filter((k) => /^\d+$/.test(k)).sort((a, b) => Number(a) - Number(b));
      for (const k of keys) {
        const ds = vars.get(k);
        const value = isDataset(ds) ? floatData(ds) : undefined;
        if (!value) throw badModel(label, `${path}/${k} is not a float dataset`, SAVE_AGAIN);
        values.push({ path: `${path}/${k}`, ...value });
      }
    }
    out.set(layer.name, values);
  });
  return out;
}
