/**
 * A TensorFlow.js layers model: model.json (its `modelTopology` is a Keras 2 config) and the weight
 * shards it lists, beside it. The weights load through the project's own loader (`loadModel`),
 * which checks every shard; the architecture goes through the same checks as a Keras file.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { BadInputError, readFailure } from '../../core/errors.js';
import { parseModelConfig } from './keras-config.js';
import { badModel, PASS_MODEL } from './problems.js';
import type { LayerWeights, WeightValue } from './spec.js';
import type { OpenedModel } from './source.js';

interface ModelJson {
  modelTopology?: unknown;
  weightsManifest?: { paths?: unknown }[];
}

export async function openTfjs(path: string, bytes: Uint8Array): Promise<OpenedModel> {
  let json: ModelJson;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8').replace(/^\uFEFF/, '')) as ModelJson;
  } catch (err) {
    throw badModel(path, `not valid JSON (${(err as Error).message})`, PASS_MODEL);
  }
  const topology = json?.modelTopology;
  if (typeof topology !== 'object' || topology === null || !Array.isArray(json.weightsManifest)) {
    const kerasConfig = typeof json === 'object' && json !== null && 'class_name' in json && 'config' in json;
    throw badModel(
      path,
      kerasConfig
        ? 'a Keras config.json alone: it holds the architecture but not the weights'
        : 'JSON, but not a TensorFlow.js layers model (no modelTopology and weightsManifest)',
      kerasConfig ? 'pass the .keras file it came from' : PASS_MODEL,
    );
  }
  const spec = parseModelConfig(topology, path);
  // The digest covers the weights too: the same model.json with other shards is another model.
  const hash = createHash('sha256').update(bytes);
  for (const group of json.weightsManifest) {
    for (const p of Array.isArray(group?.paths) ? group.paths : []) {
      if (typeof p !== 'string' || basename(p) !== p) throw badModel(path, `weights path ${JSON.stringify(p)} leaves the model's folder`, PASS_MODEL);
      const shard = join(dirname(path), p);
      try {
        hash.update(await readFile(shard));
      } catch (err) {
        throw readFailure(err, () => new BadInputError(`${path}: missing weights shard ${shard}; copy the model's folder again (model.json with its .bin files)`));
      }
    }
  }
  const version = (topology as Record<string, unknown>).keras_version;
  return {
    source: { path, sha256: hash.digest('hex'), format: 'tfjs-layers', keras_version: typeof version === 'string' ? version : null, date_saved: null },
    spec,
    readWeights: async () => {
      const { loadModel } = await import('../model-io.js');
      const model = await loadModel(path);
      try {
        const out: LayerWeights = new Map();
        for (const layer of model.layers) {
          const values: WeightValue[] = layer.weights.map((w) => {
            const t = w.read();
            return { path: `${layer.name} weight ${w.originalName}`, shape: t.shape, data: Float32Array.from(t.dataSync() as Float32Array) };
          });
          out.set(layer.name, values);
        }
        return out;
      } finally {
        model.dispose();
      }
    },
  };
}
