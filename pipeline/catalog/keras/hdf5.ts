/**
 * HDF5 through h5wasm (the HDF5 C library in WebAssembly; its Node build opens host paths
 * directly). HDF5 prints its error stack to stderr by default: h5wasm's throwing error handler
 * turns every failure into a JavaScript error instead, so a damaged file is one clean message and
 * never noise on the terminal or an abort.
 */
import h5wasm from 'h5wasm/node';
import type { Dataset, Entity, File as H5File, Group } from 'h5wasm/node';
import { BadInputError } from '../../core/errors.js';
import { badModel } from './problems.js';

export type { Dataset, Group, H5File };

let ready: Promise<void> | undefined;

async function lib(): Promise<typeof h5wasm> {
  ready ??= h5wasm.ready.then((module) => {
    module.activate_throwing_error_handler();
  });
  await ready;
  return h5wasm;
}

/** The innermost cause in an HDF5 error stack ("truncated file: eof = ..."), or the message. */
export function hdf5Reason(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const causes = [...text.matchAll(/#\d+: .* in [\w.]+\(\): (.*)$/gm)].map((m) => m[1].trim());
  return causes.at(-1) ?? text.split('\n')[0];
}

const COPY_AGAIN = 'copy it again from where it was saved (an interrupted download or copy?)';

/** Why `file` did not open, phrased for the reader. */
function openFailure(label: string, err: unknown): BadInputError {
  const reason = hdf5Reason(err);
  const truncated = /truncated file: eof = (\d+).*stored_eof = (\d+)/.exec(reason);
  if (truncated) return badModel(label, `the file is truncated (${truncated[1]} of ${truncated[2]} bytes)`, COPY_AGAIN);
  return badModel(label, `not a readable HDF5 file (${reason})`, COPY_AGAIN);
}

/**
 * Opens `path` read-only, runs `read`, closes. `label` names the file in messages (the .keras for
 * the weights file inside it). Any failure of HDF5 while reading is bad input naming it.
 */
export async function readH5<T>(path: string, label: string, read: (f: H5File) => T): Promise<T> {
  const h5 = await lib();
  let f: H5File;
  try {
    f = new h5.File(path, 'r');
  } catch (err) {
    throw openFailure(label, err);
  }
  try {
    return read(f);
  } catch (err) {
    if (err instanceof BadInputError) throw err;
    throw badModel(label, `HDF5 data cannot be read (${hdf5Reason(err)})`, COPY_AGAIN);
  } finally {
    try {
      f.close();
    } catch {
      // A file whose read failed may not close cleanly; the error above says what matters.
    }
  }
}

/**
 * Creates `path` and fills it with `write`. The format bounds are those of the files Keras writes
 * with h5py (earliest..v110), so HDF5 1.10 (Debian's h5py, older Colab images) reads them.
 */
export async function writeH5(path: string, write: (f: H5File) => void): Promise<void> {
  const h5 = await lib();
  // HDF5 stamps each dataset's header with the time (h5py, which Keras uses, turns that off;
  // h5wasm offers no switch), and its wasm build reads the clock through Date.now. A fixed clock
  // while the file is written, synchronously, makes the same weights give the same bytes: a run's
  // model.keras is then reproducible like its other files.
  const clock = Date.now;
  Date.now = () => FIXED_CLOCK;
  try {
    const f = new h5.File(path, 'w', { libver: ['earliest', 'v110'] });
    try {
      write(f);
    } finally {
      f.close();
    }
  } finally {
    Date.now = clock;
  }
}

/** The DOS epoch the zip entries carry too. */
const FIXED_CLOCK = Date.UTC(1980, 0, 1);

export const isGroup = (e: Entity | null): e is Group => e instanceof h5wasm.Group;
export const isDataset = (e: Entity | null): e is Dataset => e instanceof h5wasm.Dataset;

/** An attribute's value, or undefined when the object has no such attribute. */
export function attr(obj: Group | Dataset, name: string): unknown {
  return Object.prototype.hasOwnProperty.call(obj.attrs, name) ? obj.attrs[name].value : undefined;
}

/** A string-list attribute (fixed-length or variable-length strings; an empty list is stored as float64 []). */
export function stringList(value: unknown): string[] | undefined {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value as string[];
  if (ArrayBuffer.isView(value) && (value as Float64Array).length === 0) return [];
  return undefined;
}

/** A float dataset as float32 with its shape; anything else is undefined. */
export function floatData(ds: Dataset): { shape: number[]; data: Float32Array } | undefined {
  const value = ds.value;
  const shape = ds.shape ?? [];
  if (value instanceof Float32Array) return { shape, data: value };
  if (value instanceof Float64Array) return { shape, data: Float32Array.from(value) };
  return undefined;
}
