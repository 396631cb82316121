/**
 * NumPy .npy files (float32, little-endian, C order) so that a Python user can `numpy.load` any
 * tensor the pipeline saves. The header is byte for byte what numpy 2 writes for the same array:
 * same key order, same spare room for growing the first axis, padded to 64 bytes.
 */
import { readFile } from 'node:fs/promises';
import { BadInputError, readFailure } from '../core/errors.js';
import { writeFileSafe } from '../core/files.js';

export interface NpyArray {
  data: Float32Array;
  shape: number[];
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"
/** numpy aligns the data to 64 bytes (ARRAY_ALIGN) so that files can be memory-mapped. */
const ALIGN = 64;
/** numpy leaves room for the first axis to grow to this many digits (GROWTH_AXIS_MAX_DIGITS). */
const GROWTH_DIGITS = 21;

function checkShape(data: Float32Array, shape: number[], what: string): void {
  if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    throw new Error(`${what}: shape ${JSON.stringify(shape)} must be a list of non-negative integers`);
  }
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) {
    throw new Error(`${what}: shape ${JSON.stringify(shape)} holds ${count} values but the data has ${data.length}`);
  }
}

/** Python's repr of a tuple of ints: "()", "(32,)", "(3, 3, 1, 32)". */
function tupleRepr(shape: number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
}

function header(shape: number[]): Uint8Array {
  let dict = `{'descr': '<f4', 'fortran_order': False, 'shape': ${tupleRepr(shape)}, }`;
  if (shape.length > 0) dict += ' '.repeat(Math.max(0, GROWTH_DIGITS - String(shape[0]).length));
  // Version 1.0 stores the header length in 2 bytes; numpy moves to 2.0 (4 bytes) past that.
  const hlen = dict.length + 1;
  const padFor = (prefix: number) => ALIGN - ((prefix + hlen) % ALIGN);
  const v1 = hlen + padFor(10) <= 0xffff;
  const prefix = v1 ? 10 : 12;
  const pad = padFor(prefix);
  const text = dict + ' '.repeat(pad) + '\n';
  const out = new Uint8Array(prefix + text.length);
  out.set(MAGIC, 0);
  out[6] = v1 ? 1 : 2;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (v1) view.setUint16(8, text.length, true);
  else view.setUint32(8, text.length, true);
  for (let i = 0; i < text.length; i++) out[prefix + i] = text.charCodeAt(i);
  return out;
}

/** The bytes of a .npy file; throws (writing nothing) when shape and data disagree. */
export function encodeNpy(data: Float32Array, shape: number[]): Uint8Array {
  checkShape(data, shape, 'encodeNpy');
  const head = header(shape);
  const out = new Uint8Array(head.length + data.length * 4);
  out.set(head, 0);
  // DataView writes little-endian whatever the host's byte order.
  const view = new DataView(out.buffer, head.length);
  for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i], true);
  return out;
}

/** Writes `data` with `shape` as a .npy file, atomically. */
export async function writeNpy(path: string, data: Float32Array, shape: number[]): Promise<void> {
  await writeFileSafe(path, encodeNpy(data, shape));
}

/**
 * Parses .npy bytes holding a float32 little-endian C-order array. `name` (the file) goes into
 * every error, since a malformed file is bad input the user has to replace.
 */
export function parseNpy(bytes: Uint8Array, name: string): NpyArray {
  const bad = (why: string) =>
    new BadInputError(`${name} is not a usable .npy file: ${why}; re-create it (run the step that writes it with --force)`);
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) throw bad('it does not start with the .npy magic "\\x93NUMPY"');
  const major = bytes[6];
  if (major !== 1 && major !== 2 && major !== 3) throw bad(`unknown format version ${major}.${bytes[7]}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const prefix = major === 1 ? 10 : 12;
  if (bytes.length < prefix) throw bad('the header is cut short');
  const hlen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  if (prefix + hlen > bytes.length) throw bad(`the header claims ${hlen} bytes but the file has ${bytes.length}`);
  const text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(prefix, prefix + hlen)).trim();
  if (!text.startsWith('{') || !text.endsWith('}')) throw bad(`the header is not a Python dict: ${JSON.stringify(text)}`);

  const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(text)?.[1];
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)\b/.exec(text)?.[1];
  const shapeText = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw bad(`the header lacks descr, fortran_order or shape: ${JSON.stringify(text)}`);
  }
  if (descr !== '<f4') throw bad(`dtype ${descr} is not float32 little-endian ('<f4'); save it with arr.astype('<f4')`);
  if (fortran !== 'False') throw bad('it is in Fortran order; save it with numpy.ascontiguousarray(arr)');
  const parts = shapeText.split(',').map((s) => s.trim());
  if (parts.length > 1 && parts[parts.length - 1] === '') parts.pop();
  if (parts.length === 1 && parts[0] === '') parts.pop();
  if (parts.some((p) => !/^\d+$/.test(p))) throw bad(`shape (${shapeText}) is not a tuple of non-negative integers`);
  const shape = parts.map(Number);

  const count = shape.reduce((a, b) => a * b, 1);
  const start = prefix + hlen;
  if (bytes.length - start !== count * 4) {
    throw bad(`shape ${tupleRepr(shape)} needs ${count * 4} data bytes but the file has ${bytes.length - start}`);
  }
  const data = new Float32Array(count);
  for (let i = 0; i < count; i++) data[i] = view.getFloat32(start + i * 4, true);
  return { data, shape };
}

/** Reads a .npy file written by `writeNpy` (or numpy, for float32 C-order arrays). */
export async function readNpy(path: string): Promise<NpyArray> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw readFailure(err, () => new BadInputError(`missing ${path}: run the step that writes it again (add --force)`));
  }
  return parseNpy(bytes, path);
}
