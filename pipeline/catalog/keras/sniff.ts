/** Which kind of file a model file is, from its first bytes (never from its name). */
import { badModel, PASS_MODEL } from './problems.js';

export type Container = 'zip' | 'hdf5' | 'json';

const ZIP = [0x50, 0x4b, 0x03, 0x04];
/** An empty zip archive starts with its end-of-central-directory record. */
const EMPTY_ZIP = [0x50, 0x4b, 0x05, 0x06];
const HDF5 = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

const startsWith = (bytes: Uint8Array, magic: number[]): boolean => magic.every((b, i) => bytes[i] === b);

export function sniff(bytes: Uint8Array, file: string): Container {
  if (bytes.byteLength === 0) throw badModel(file, 'the file is empty', PASS_MODEL);
  if (startsWith(bytes, ZIP) || startsWith(bytes, EMPTY_ZIP)) return 'zip';
  if (startsWith(bytes, HDF5)) return 'hdf5';
  let i = startsWith(bytes, [0xef, 0xbb, 0xbf]) ? 3 : 0;
  while (i < bytes.byteLength && [0x20, 0x09, 0x0a, 0x0d].includes(bytes[i])) i++;
  if (bytes[i] === 0x7b) return 'json';
  const head = [...bytes.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  throw badModel(
    file,
    `not a model file: it is neither a zip archive (.keras), an HDF5 file (.h5) nor JSON (model.json); it starts with the bytes ${head}`,
    PASS_MODEL,
  );
}
