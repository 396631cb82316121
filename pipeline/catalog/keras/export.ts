/**
 * A TensorFlow.js model as a Keras 3 `.keras` file that `keras.models.load_model` reads: the same
 * zip entries (stored, in Keras's order), config keys and HDF5 layout as the book's file written
 * by Keras 3.4.1, with no optimizer variables.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { strToU8, zipSync } from 'fflate';
import { writeFileSafe } from '../../core/files.js';
import { tf } from '../../tfjs/tf.js';
import { specFromModel } from './from-tfjs.js';
import { writeH5 } from './hdf5.js';
import { keras3Config, type InputShapes } from './keras3-config-writer.js';
import { CONFIG, keras3Groups, METADATA, WEIGHTS } from './keras3-file.js';
import type { ModelSpec } from './spec.js';

/**
 * The Keras release whose file layout this writer copies (the book's file). Keras 3 reads
 * metadata.json's version for information only.
 */
export const KERAS_VERSION = '3.4.1';

/** Keras's `datetime.now().strftime("%Y-%m-%d@%H:%M:%S")`. */
export function kerasDate(d: Date): string {
  const p = (v: number) => String(v).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}@${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** Zip entries carry the DOS epoch, as Keras's JSON entries do, so the same model gives the same bytes. */
const ZIP_TIME = new Date(1980, 0, 1, 0, 0, 0);

function inputShapes(model: tf.LayersModel, spec: ModelSpec): InputShapes {
  return new Map(
    spec.layers.map((l) => {
      const input = model.getLayer(l.name).input;
      return [l.name, (Array.isArray(input) ? input[0] : input).shape];
    }),
  );
}

/** Keras 3's weights file: `vars` for the model itself, then `layers/<group>/vars/<i>` per layer. */
async function weightsFile(model: tf.LayersModel, spec: ModelSpec): Promise<Uint8Array> {
  const groups = keras3Groups(spec);
  const dir = await mkdtemp(join(tmpdir(), 'cnn-lens-keras-'));
  try {
    const path = join(dir, WEIGHTS);
    await writeH5(path, (f) => {
      f.create_group('vars');
      const layers = f.create_group('layers');
      if (groups.input !== null) layers.create_group(groups.input).create_group('vars');
      spec.layers.forEach((l, i) => {
        const vars = layers.create_group(groups.layers[i]).create_group('vars');
        model.getLayer(l.name).getWeights().forEach((w, j) => {
          vars.create_dataset({ name: String(j), data: w.dataSync() as Float32Array, shape: w.shape, dtype: '<f' });
        });
      });
    });
    return await readFile(path);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface ExportOptions {
  /** metadata.json's date_saved (default: now). */
  dateSaved?: Date;
}

export async function exportKeras(model: tf.LayersModel, path: string, options: ExportOptions = {}): Promise<void> {
  const spec = specFromModel(model, `the model exported to ${path}`);
  const config = keras3Config(spec, inputShapes(model, spec));
  const metadata = { keras_version: KERAS_VERSION, date_saved: kerasDate(options.dateSaved ?? new Date()) };
  const weights = await weightsFile(model, spec);
  const stored = { level: 0 as const, mtime: ZIP_TIME };
  const zip = zipSync({
    [METADATA]: [strToU8(JSON.stringify(metadata)), stored],
    [CONFIG]: [strToU8(JSON.stringify(config)), stored],
    [WEIGHTS]: [weights, stored],
  });
  await writeFileSafe(path, zip);
}
