import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { BadInputError } from '../pipeline/core/errors.js';
import { parseIdx, readIdx } from '../pipeline/catalog/idx.js';
import { tempDir } from './helpers.js';
import { datasetDir } from './helpers/fixture-run.js';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** An IDX file of unsigned bytes: magic 0x0000 08 <ndims>, big-endian dims, then the data. */
function idx(dims: number[], data: number[], magic = 0x0800 + dims.length): Uint8Array {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeUInt32BE(magic, 0);
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return new Uint8Array(Buffer.concat([header, Buffer.from(data)]));
}

const IMAGES = idx([3, 2, 4], Array.from({ length: 24 }, (_, i) => i * 10));
const LABELS = idx([5], [9, 0, 0, 3, 7]);

function parseError(bytes: Uint8Array, name = 'fixture.idx'): BadInputError {
  try {
    parseIdx(bytes, name);
  } catch (err) {
    expect(err).toBeInstanceOf(BadInputError);
    return err as BadInputError;
  }
  throw new Error('parseIdx accepted a bad file');
}

describe('parseIdx', () => {
  it('reads images (magic 2051) as count x rows x cols, row-major, without copying', () => {
    const parsed = parseIdx(IMAGES, 'images');
    expect(parsed.dims).toEqual([3, 2, 4]);
    expect(Array.from(parsed.data)).toEqual(Array.from({ length: 24 }, (_, i) => i * 10));
    expect(parsed.data.buffer).toBe(IMAGES.buffer);
    expect(parsed.data.byteOffset).toBe(IMAGES.byteOffset + 16);
  });

  it('reads labels (magic 2049)', () => {
    const parsed = parseIdx(LABELS, 'labels');
    expect(parsed.dims).toEqual([5]);
    expect(Array.from(parsed.data)).toEqual([9, 0, 0, 3, 7]);
  });

  it('reads a view inside a larger buffer (byteOffset honoured)', () => {
    const big = new Uint8Array(LABELS.length + 7);
    big.set(LABELS, 7);
    expect(Array.from(parseIdx(big.subarray(7), 'labels').data)).toEqual([9, 0, 0, 3, 7]);
  });

  it('rejects a truncated body, naming the file', () => {
    const e = parseError(IMAGES.subarray(0, IMAGES.length - 1), 'train-images-idx3-ubyte');
    expect(e.message).toMatch(/^train-images-idx3-ubyte: truncated: the header describes 3 x 2 x 4 bytes of data \(40 bytes in all\) but there are 39/);
    expect(e.message).toMatch(/download it again/);
  });

  it('rejects a truncated header', () => {
    expect(parseError(IMAGES.subarray(0, 10)).message).toMatch(/fixture\.idx: truncated header: 10 bytes, a 3-dimension header needs 16/);
    expect(parseError(IMAGES.subarray(0, 3)).message).toMatch(/fixture\.idx: only 3 bytes, too short for an IDX header/);
    expect(parseError(new Uint8Array(0)).message).toMatch(/only 0 bytes/);
  });

  it('rejects a wrong magic number', () => {
    expect(parseError(idx([5], [1, 2, 3, 4, 5], 2050)).message).toMatch(/magic number 2050 \(0x00000802\), expected 2049 \(labels\) or 2051 \(images\)/);
    // float data (type 0x0d) is IDX but not what Fashion-MNIST holds
    expect(parseError(idx([5], [1, 2, 3, 4, 5], 0x0d01)).message).toMatch(/magic number 3329/);
    // a gzip file handed over without decompressing
    expect(parseError(gzipSync(LABELS)).message).toMatch(/magic number \d+ \(0x1f8b/);
  });

  it('rejects a count that does not match the data (too many or too few items)', () => {
    expect(parseError(idx([6], [9, 0, 0, 3, 7])).message).toMatch(/truncated: the header describes 6 bytes of data \(14 bytes in all\) but there are 13/);
    expect(parseError(idx([4], [9, 0, 0, 3, 7])).message).toMatch(/1 trailing bytes after the 4 bytes of data the header describes/);
    expect(parseError(idx([3, 2, 3], Array(24).fill(0))).message).toMatch(/6 trailing bytes after the 3 x 2 x 3 bytes/);
  });

  it('rejects images without pixels', () => {
    expect(parseError(idx([3, 0, 4], [])).message).toMatch(/images of 0 x 4 pixels/);
  });
});

describe('readIdx', () => {
  it('reads raw and gzip files alike', async () => {
    const dir = tempDir('cnn-lens-idx-');
    dirs.push(dir);
    await writeFile(join(dir, 'labels'), LABELS);
    await writeFile(join(dir, 'labels.gz'), gzipSync(LABELS));
    for (const name of ['labels', 'labels.gz']) {
      const parsed = await readIdx(join(dir, name));
      expect(parsed.dims).toEqual([5]);
      expect(Array.from(parsed.data)).toEqual([9, 0, 0, 3, 7]);
    }
  });

  it('names the file when its gzip data is damaged or it is missing', async () => {
    const dir = tempDir('cnn-lens-idx-');
    dirs.push(dir);
    const gz = gzipSync(IMAGES);
    await writeFile(join(dir, 'cut.gz'), gz.subarray(0, gz.length - 6));
    await expect(readIdx(join(dir, 'cut.gz'))).rejects.toThrow(new RegExp(`^${join(dir, 'cut.gz')}: damaged gzip data \\(unexpected end of file\\)`));
    await expect(readIdx(join(dir, 'nope.gz'))).rejects.toThrow(`cannot read ${join(dir, 'nope.gz')} (ENOENT)`);
    await expect(readIdx(join(dir, 'nope.gz'))).rejects.toBeInstanceOf(BadInputError);
  });

  it("reads the real test labels: 10,000 labels, 1,000 of each class, the first an ankle boot (9)", async () => {
    const parsed = await readIdx(join(datasetDir(), 't10k-labels-idx1-ubyte.gz'));
    expect(parsed.dims).toEqual([10_000]);
    expect(parsed.data[0]).toBe(9);
    const counts = new Array(10).fill(0);
    for (const label of parsed.data) counts[label]++;
    expect(counts).toEqual(new Array(10).fill(1000));
  });
});
