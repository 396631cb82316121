import { createHash } from 'node:crypto';
import { copyFile, readFile, rm, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { DATASET_FILES, datasetFiles, loadFashionMnist, pinMismatch } from '../pipeline/catalog/dataset.js';
import { BadInputError } from '../pipeline/core/errors.js';
import { tempDir } from './helpers.js';
import { datasetDir } from './helpers/fixture-run.js';

const dirs: string[] = [];

/** A cache-like folder holding copies of the suite's four verified .gz files. */
async function copyOfDataset(): Promise<string> {
  const dir = tempDir('cnn-lens-dataset-');
  dirs.push(dir);
  await Promise.all(DATASET_FILES.map((f) => copyFile(join(datasetDir(), `${f.name}.gz`), join(dir, `${f.name}.gz`))));
  return dir;
}

async function loadError(dir: string): Promise<BadInputError> {
  const err = await loadFashionMnist(dir).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BadInputError);
  return err as BadInputError;
}

afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe('the pinned dataset files', () => {
  it('pins the four decompressed IDX files of REFERENCE.md', () => {
    expect(DATASET_FILES.map((f) => [f.key, f.name, f.bytes])).toEqual([
      ['trainImages', 'train-images-idx3-ubyte', 47_040_016],
      ['trainLabels', 'train-labels-idx1-ubyte', 60_008],
      ['testImages', 't10k-images-idx3-ubyte', 7_840_016],
      ['testLabels', 't10k-labels-idx1-ubyte', 10_008],
    ]);
    expect(DATASET_FILES[0].sha256).toBe('c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888');
    expect(datasetFiles('/c')).toEqual([
      '/c/train-images-idx3-ubyte.gz',
      '/c/train-labels-idx1-ubyte.gz',
      '/c/t10k-images-idx3-ubyte.gz',
      '/c/t10k-labels-idx1-ubyte.gz',
    ]);
  });

  it("accepts the real copy and rejects a changed byte or a changed size", async () => {
    const labels = DATASET_FILES[3];
    const raw = gunzipSync(await readFile(join(datasetDir(), `${labels.name}.gz`)));
    expect(pinMismatch(labels, raw)).toBeNull();
    const flipped = Buffer.from(raw);
    flipped[5000] ^= 1;
    const digest = createHash('sha256').update(flipped).digest('hex');
    expect(pinMismatch(labels, flipped)).toBe(`SHA-256 ${digest.slice(0, 12)}..., expected 0402a96d92fd...`);
    expect(pinMismatch(labels, raw.subarray(0, 10_000))).toBe('10000 bytes decompressed, expected 10008');
  });
});

describe('loadFashionMnist', () => {
  it('loads, decodes and verifies all 70,000 images', async () => {
    const dir = await copyOfDataset();
    const started = performance.now();
    const { train, test } = await loadFashionMnist(dir);
    const seconds = (performance.now() - started) / 1000;
    console.log(`loadFashionMnist: 70,000 images loaded and verified in ${seconds.toFixed(2)} s`);

    expect(train.count).toBe(60_000);
    expect(test.count).toBe(10_000);
    expect(train.images.length).toBe(60_000 * 784);
    expect(test.images.length).toBe(10_000 * 784);
    expect(train.labels.length).toBe(60_000);
    expect(test.labels.length).toBe(10_000);
    // The chapter's train_input[0] is an ankle boot (class 9), as is the first test image.
    expect(train.labels[0]).toBe(9);
    expect(test.labels[0]).toBe(9);
    const perClass = (labels: Uint8Array) => labels.reduce((c, l) => (c[l]++, c), new Array<number>(10).fill(0));
    expect(perClass(train.labels)).toEqual(new Array(10).fill(6000));
    expect(perClass(test.labels)).toEqual(new Array(10).fill(1000));
    // The IDX header is not part of the pixels: the first image's top row is background, and
    // the image has a full range of grey.
    const first = train.images.subarray(0, 784);
    expect(Array.from(first.subarray(0, 28))).toEqual(new Array(28).fill(0));
    expect(Math.max(...first)).toBe(255);
    expect(first.reduce((a, b) => a + b, 0)).toBe(
      Array.from(gunzipSync(await readFile(join(dir, 'train-images-idx3-ubyte.gz'))).subarray(16, 16 + 784)).reduce((a, b) => a + b, 0),
    );
  });

  it('catches a cached file changed behind its back, even with its size and mtime restored', async () => {
    const dir = await copyOfDataset();
    const path = join(dir, 't10k-labels-idx1-ubyte.gz');
    await utimes(path, 1_700_000_000, 1_700_000_000);
    const before = await stat(path);
    // A changed label, re-gzipped and padded to the original size (gunzip ignores trailing zeros):
    // only the hash can tell.
    const raw = gunzipSync(await readFile(path));
    raw[16] = raw[16] === 9 ? 8 : 9;
    const changed = gzipSync(raw);
    const padded = Buffer.concat([changed, Buffer.alloc(Math.max(0, before.size - changed.length))]);
    expect(padded.length).toBe(before.size);
    await writeFile(path, padded);
    await utimes(path, 1_700_000_000, 1_700_000_000);
    expect((await stat(path)).mtimeMs).toBe(before.mtimeMs);
    expect((await stat(path)).size).toBe(before.size);

    const err = await loadError(dir);
    expect(err.message).toMatch(new RegExp(`^${path} is not the pinned Fashion-MNIST file \\(SHA-256 \\w{12}\\.\\.\\., expected 0402a96d92fd\\.\\.\\.\\): it changed since it was verified`));
    expect(err.message).toContain('run `npm run pipeline -- --only download --force` (or delete the file) to fetch a verified copy');
  });

  it('names a file whose gzip data is damaged (a flipped byte) and the fix', async () => {
    const dir = await copyOfDataset();
    const path = join(dir, 'train-labels-idx1-ubyte.gz');
    const bytes = await readFile(path);
    bytes[bytes.length - 100] ^= 0xff;
    await writeFile(path, bytes);
    const err = await loadError(dir);
    expect(err.message).toMatch(new RegExp(`^${path}: damaged gzip data \\(.+\\); run \`npm run pipeline -- --only download --force\``));
  });

  it('names a missing file and the step that fetches it', async () => {
    const dir = await copyOfDataset();
    await unlink(join(dir, 't10k-images-idx3-ubyte.gz'));
    const err = await loadError(dir);
    expect(err.message).toBe(`missing ${join(dir, 't10k-images-idx3-ubyte.gz')}: run \`npm run pipeline -- --only download\` to fetch the dataset`);
  });

  it('rejects a valid IDX file that is not the pinned one (a 100-label subset)', async () => {
    const dir = await copyOfDataset();
    const path = join(dir, 't10k-labels-idx1-ubyte.gz');
    const raw = gunzipSync(await readFile(path));
    // A labels file is an 8-byte header (magic, count) and one byte per label.
    const subset = Buffer.from(raw.subarray(0, 8 + 100));
    subset.writeUInt32BE(100, 4);
    await writeFile(path, gzipSync(subset));
    expect((await loadError(dir)).message).toMatch(/is not the pinned Fashion-MNIST file \(108 bytes decompressed, expected 10008\)/);
  });
});
