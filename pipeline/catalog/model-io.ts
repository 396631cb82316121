/**
 * Models on disk in the TensorFlow.js layers format (model.json + one weights shard), through our
 * own IO handlers so the same code runs with or without tfjs-node (whose file:// handler is the
 * only built-in one in Node).
 */
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { BadInputError, readFailure } from '../core/errors.js';
import { writeFileSafe } from '../core/files.js';
import { tf } from '../tfjs/tf.js';
import { SHARD } from './model-files.js';

/** Saves `model` as `<dir>/model.json` + `<dir>/weights.bin`; the shard is written first, model.json last. */
export async function saveModel(model: tf.LayersModel, modelJsonPath: string): Promise<void> {
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weightData = artifacts.weightData as ArrayBuffer;
      await writeFileSafe(join(dirname(modelJsonPath), SHARD), new Uint8Array(weightData));
      const modelJson = {
        format: 'layers-model',
        generatedBy: `TensorFlow.js tfjs-layers v${tf.version.tfjs}`,
        convertedBy: null,
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: [SHARD], weights: artifacts.weightSpecs }],
      };
      await writeFileSafe(modelJsonPath, JSON.stringify(modelJson));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
}

interface ModelJson {
  modelTopology: object;
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
}

const BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1 };

/**
 * Loads a layers model saved by `saveModel` (or any single-folder tfjs layers model). Every way the
 * files can be wrong (missing shard, wrong length, shapes that do not fit the topology) is a
 * BadInputError naming the file.
 */
export async function loadModel(modelJsonPath: string): Promise<tf.LayersModel> {
  const fix = `re-create it (npm run pipeline -- --only checkpoint --force) or restore the folder ${dirname(modelJsonPath)}`;
  let text: string;
  try {
    text = await readFile(modelJsonPath, 'utf8');
  } catch (err) {
    throw readFailure(err, () => new BadInputError(`missing model ${modelJsonPath}; ${fix}`));
  }
  let json: ModelJson;
  try {
    json = JSON.parse(text) as ModelJson;
  } catch (err) {
    throw new BadInputError(`cannot read model ${modelJsonPath}: ${(err as Error).message}; ${fix}`);
  }
  if (!json || typeof json.modelTopology !== 'object' || !Array.isArray(json.weightsManifest)) {
    throw new BadInputError(`${modelJsonPath} is not a TensorFlow.js layers model (no modelTopology/weightsManifest); ${fix}`);
  }
  const specs: tf.io.WeightsManifestEntry[] = [];
  const buffers: Uint8Array[] = [];
  for (const group of json.weightsManifest) {
    specs.push(...group.weights);
    for (const p of group.paths) {
      if (basename(p) !== p) throw new BadInputError(`${modelJsonPath}: weights path ${JSON.stringify(p)} leaves the model folder; ${fix}`);
      const file = join(dirname(modelJsonPath), p);
      try {
        buffers.push(await readFile(file));
      } catch (err) {
        throw readFailure(err, () => new BadInputError(`missing weights shard ${file} (named in ${modelJsonPath}); ${fix}`));
      }
    }
  }
  const expected = specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1) * (BYTES[s.dtype] ?? 4), 0);
  const total = buffers.reduce((n, b) => n + b.byteLength, 0);
  if (total !== expected) {
    throw new BadInputError(
      `weights of ${modelJsonPath} hold ${total} bytes but its manifest needs ${expected}: the shard is truncated or belongs to another model; ${fix}`,
    );
  }
  const weightData = new Uint8Array(total);
  let offset = 0;
  for (const b of buffers) {
    weightData.set(b, offset);
    offset += b.byteLength;
  }
  try {
    return await tf.loadLayersModel(
      tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: specs, weightData: weightData.buffer }),
    );
  } catch (err) {
    throw new BadInputError(`${modelJsonPath} does not load: ${(err as Error).message}; ${fix}`);
  }
}
