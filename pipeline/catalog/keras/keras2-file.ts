/**
 * tf.keras 2's HDF5 model (`model.save('x.h5')`): root attributes `model_config` (JSON),
 * `keras_version`, `backend`; weights under `model_weights/<layer>/`, listed in order by the
 * attributes `layer_names` (on model_weights) and `weight_names` (on each layer's group, e.g.
 * `conv2d/kernel:0`, a path inside that group). `optimizer_weights/` is not read.
 */
import { attr, floatData, isDataset, isGroup, readH5, stringList, type H5File } from './hdf5.js';
import { parseModelConfig } from './keras-config.js';
import { badModel, SAVE_AGAIN } from './problems.js';
import type { LayerWeights, ModelSpec, WeightValue } from './spec.js';
import type { OpenedModel } from './source.js';

const FULL_MODEL =
  'pass the full .keras or .h5 file that model.save("best-cnn-model.keras") wrote (not one from model.save_weights(...) or a ModelCheckpoint with save_weights_only=True)';

export async function openKeras2(path: string, sha256: string): Promise<OpenedModel> {
  const { config, kerasVersion } = await readH5(path, path, (f) => {
    const raw = attr(f, 'model_config');
    if (raw === undefined) {
      throw badModel(path, 'a weights-only HDF5 file (it has no model_config attribute): the model\'s architecture is missing', FULL_MODEL);
    }
    const version = attr(f, 'keras_version');
    return { config: raw, kerasVersion: typeof version === 'string' ? version : null };
  });
  let json: unknown;
  try {
    json = JSON.parse(String(config));
  } catch (err) {
    throw badModel(path, `its model_config attribute is not valid JSON (${(err as Error).message})`, SAVE_AGAIN);
  }
  const spec = parseModelConfig(json, path);
  return {
    source: { path, sha256, format: 'keras2-h5', keras_version: kerasVersion, date_saved: null },
    spec,
    readWeights: () => readH5(path, path, (f) => layerWeights(f, spec, path)),
  };
}

function layerWeights(f: H5File, spec: ModelSpec, file: string): LayerWeights {
  const root = f.get('model_weights');
  if (!isGroup(root)) throw badModel(file, 'it has no model_weights group: the weights are missing', FULL_MODEL);
  const out: LayerWeights = new Map();
  for (const layer of spec.layers) {
    const values: WeightValue[] = [];
    const group = root.get(layer.name);
    if (isGroup(group)) {
      const names = stringList(attr(group, 'weight_names'));
      if (!names) throw badModel(file, `model_weights/${layer.name} has no readable weight_names attribute`, SAVE_AGAIN);
      for (const name of names) {
        const path = `model_weights/${layer.name}/${name}`;
        const ds = group.get(name);
        const value = isDataset(ds) ? floatData(ds) : undefined;
        if (!value) throw badModel(file, `${path}, named in weight_names, is missing or not a float dataset`, SAVE_AGAIN);
        values.push({ path, ...value });
      }
    }
    out.set(layer.name, values);
  }
  return out;
}
