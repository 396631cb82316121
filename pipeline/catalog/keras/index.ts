/**
 * Keras model files: read a Keras 3 `.keras`, a tf.keras 2 `.h5` or a TensorFlow.js model.json
 * into a TensorFlow.js model with the file's layer names and weights; write any model of ours as a
 * Keras 3 `.keras`. No Python: HDF5 through h5wasm, zip through fflate.
 */
import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { BadInputError, readFailure } from '../../core/errors.js';
import { sha256 } from '../../core/hash.js';
import type { tf } from '../../tfjs/tf.js';
import type { ExportOptions } from './export.js';
import { openKeras2 } from './keras2-file.js';
import { openKeras3 } from './keras3-file.js';
import { badModel, PASS_MODEL } from './problems.js';
import { sniff } from './sniff.js';
import type { ModelSource, OpenedModel } from './source.js';
import { openTfjs } from './tfjs-file.js';

export type { ExportOptions } from './export.js';
export type { ModelFormat, ModelSource } from './source.js';

// TensorFlow.js takes most of a second to load: only importModel and exportKeras load it, so that
// inspectModelFile stays cheap (the CLI inspects a --model file before anything else).

/** Reads the container, the metadata and the architecture (checked); the weights stay on disk. */
async function openModelFile(given: string): Promise<OpenedModel> {
  const path = resolve(given);
  const info = await stat(path).catch((err: unknown) => {
    throw readFailure(err, () => new BadInputError(`${path}: no such file; ${PASS_MODEL}`));
  });
  if (info.isDirectory()) {
    throw badModel(path, 'a folder, not a model file (a TensorFlow SavedModel folder is not supported)', `${PASS_MODEL}; for TensorFlow.js, the model.json inside the folder`);
  }
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw readFailure(err, () => new BadInputError(`${path}: no such file; ${PASS_MODEL}`));
  }
  switch (sniff(bytes, path)) {
    case 'zip':
      return openKeras3(path, bytes, sha256(bytes));
    case 'hdf5':
      return openKeras2(path, sha256(bytes));
    case 'json':
      return openTfjs(path, bytes);
  }
}

/**
 * Cheap, no TensorFlow.js: the format (by magic bytes), the SHA-256, the version metadata. It also
 * reads and checks the architecture (supported layers, Fashion-MNIST's input), so that a model
 * cnn-lens cannot run is refused before anything is written; the weights are checked on import.
 * A file that is none of the formats, truncated or unreadable is a BadInputError.
 */
export async function inspectModelFile(path: string): Promise<ModelSource> {
  return (await openModelFile(path)).source;
}

/** Full import: a tf.LayersModel with the file's architecture and weights, layer names exactly as in the file. */
export async function importModel(path: string): Promise<{ model: tf.LayersModel; source: ModelSource }> {
  const opened = await openModelFile(path);
  const weights = await opened.readWeights();
  const { applyWeights, buildFromSpec } = await import('./build.js');
  const model = buildFromSpec(opened.spec, opened.source.path);
  try {
    applyWeights(model, opened.spec, weights, opened.source.path);
  } catch (err) {
    model.dispose();
    throw err;
  }
  return { model, source: opened.source };
}

/** Writes `model` as a Keras 3 `.keras` zip (metadata.json, config.json, model.weights.h5), no optimizer variables, atomically. */
export async function exportKeras(model: tf.LayersModel, path: string, options: ExportOptions = {}): Promise<void> {
  const { exportKeras: write } = await import('./export.js');
  await write(model, path, options);
}
