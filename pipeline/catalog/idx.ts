import { readFile } from 'node:fs/promises';
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import { BadInputError } from '../core/errors.js';

/**
 * The IDX format of MNIST-style files: a big-endian header (magic, then one uint32 per
 * dimension) followed by the data, row-major. Only the two kinds Fashion-MNIST uses are accepted:
 * unsigned bytes with 1 dimension (labels, magic 2049) or 3 (images, magic 2051).
 */
export interface Idx {
  dims: number[];
  /** A view into the bytes given, no copy. */
  data: Uint8Array;
}

const LABELS_MAGIC = 2049; // 0x00000801: ubyte, 1 dimension
const IMAGES_MAGIC = 2051; // 0x00000803: ubyte, 3 dimensions

/** zlib's gunzip in libuv's thread pool, so that several files decompress in parallel. */
export const gunzipAsync = promisify(gunzip);

export function parseIdx(bytes: Uint8Array, name: string): Idx {
  const fail = (why: string) => new BadInputError(`${name}: ${why}; it is not a valid Fashion-MNIST IDX file (download it again)`);
  if (bytes.byteLength < 4) throw fail(`only ${bytes.byteLength} bytes, too short for an IDX header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0);
  if (magic !== LABELS_MAGIC && magic !== IMAGES_MAGIC) {
    throw fail(`magic number ${magic} (0x${magic.toString(16).padStart(8, '0')}), expected ${LABELS_MAGIC} (labels) or ${IMAGES_MAGIC} (images)`);
  }
  const ndims = magic & 0xff;
  const headerBytes = 4 + 4 * ndims;
  if (bytes.byteLength < headerBytes) {
    throw fail(`truncated header: ${bytes.byteLength} bytes, a ${ndims}-dimension header needs ${headerBytes}`);
  }
  const dims = Array.from({ length: ndims }, (_, i) => view.getUint32(4 + 4 * i));
  if (magic === IMAGES_MAGIC && (dims[1] === 0 || dims[2] === 0)) {
    throw fail(`images of ${dims[1]} x ${dims[2]} pixels`);
  }
  const dataBytes = dims.reduce((a, b) => a * b, 1);
  const expected = headerBytes + dataBytes;
  if (bytes.byteLength < expected) {
    throw fail(`truncated: the header describes ${dims.join(' x ')} bytes of data (${expected} bytes in all) but there are ${bytes.byteLength}`);
  }
  if (bytes.byteLength > expected) {
    throw fail(`${bytes.byteLength - expected} trailing bytes after the ${dims.join(' x ')} bytes of data the header describes`);
  }
  return { dims, data: new Uint8Array(bytes.buffer, bytes.byteOffset + headerBytes, dataBytes) };
}

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.byteLength >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * The IDX bytes of a file's contents, gunzipped when they are gzip (told by the gzip magic, not
 * the name: some servers send .gz files already decoded). Runs in libuv's thread pool, so that
 * several files decompress in parallel.
 */
export async function decodeIdxBytes(bytes: Uint8Array, name: string, fix = 'download it again'): Promise<Uint8Array> {
  if (!isGzip(bytes)) return bytes;
  try {
    return await gunzipAsync(bytes);
  } catch (err) {
    throw new BadInputError(`${name}: damaged gzip data (${(err as Error).message}); ${fix}`);
  }
}

/** Reads a .gz or raw IDX file. */
export async function readIdx(path: string): Promise<Idx> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new BadInputError(`cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return parseIdx(await decodeIdxBytes(bytes, path), path);
}
