import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BadInputError, readFailure } from '../core/errors.js';
import { sha256 } from '../core/hash.js';
import { decodeIdxBytes, isGzip, parseIdx } from './idx.js';

export type DatasetKey = 'trainImages' | 'trainLabels' | 'testImages' | 'testLabels';

export interface DatasetFile {
  key: DatasetKey;
  /** IDX name without extension; the cache holds `<name>.gz`. */
  name: string;
  /** Size of the decompressed IDX file. */
  bytes: number;
  /** SHA-256 of the decompressed IDX bytes (the .gz bytes differ between publishers). */
  sha256: string;
}

/** Pinned from REFERENCE.md ("Fashion-MNIST files"). */
export const DATASET_FILES: readonly DatasetFile[] = [
  { key: 'trainImages', name: 'train-images-idx3-ubyte', bytes: 47_040_016, sha256: 'c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888' },
  { key: 'trainLabels', name: 'train-labels-idx1-ubyte', bytes: 60_008, sha256: 'bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9' },
  { key: 'testImages', name: 't10k-images-idx3-ubyte', bytes: 7_840_016, sha256: '5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b' },
  { key: 'testLabels', name: 't10k-labels-idx1-ubyte', bytes: 10_008, sha256: '0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34' },
];

/** Fashion-MNIST images: 28 x 28 pixels, one channel. */
export const IMAGE_SIZE = 28;
export const PIXELS = IMAGE_SIZE * IMAGE_SIZE;
/** A model's input shape without the batch axis. */
export const IMAGE_SHAPE: [number, number, number] = [IMAGE_SIZE, IMAGE_SIZE, 1];
/** Images in the training file (60,000), from which the seeded train/validation split is drawn. */
export const TRAIN_IMAGES = 60_000;

/** One image file with its labels file: the training or the test images. */
export interface ImageSet {
  /** count * PIXELS bytes, row-major 28 x 28 images, 0 = background. */
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
}

/** Cache file name of a dataset file. */
export function gzName(file: DatasetFile): string {
  return `${file.name}.gz`;
}

/** The four cache file paths (what the dataset artifact digests for the steps that load the data). */
export function datasetFiles(dir: string): string[] {
  return DATASET_FILES.map((f) => join(dir, gzName(f)));
}

/** Why decompressed bytes are not the pinned file, or null when they are. */
export function pinMismatch(file: DatasetFile, raw: Uint8Array): string | null {
  if (raw.byteLength !== file.bytes) return `${raw.byteLength} bytes decompressed, expected ${file.bytes}`;
  const digest = sha256(raw);
  if (digest !== file.sha256) return `SHA-256 ${digest.slice(0, 12)}..., expected ${file.sha256.slice(0, 12)}...`;
  return null;
}

const REFETCH = 'run `npm run pipeline -- --only download --force` (or delete the file) to fetch a verified copy';

/** Decompressed, verified IDX of one cache file; every failure names the file and the fix. */
async function loadVerified(dir: string, file: DatasetFile): Promise<Uint8Array> {
  const path = join(dir, gzName(file));
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw readFailure(err, () => new BadInputError(`missing ${path}: run \`npm run pipeline -- --only download\` to fetch the dataset`));
  }
  if (!isGzip(bytes)) throw new BadInputError(`${path} is not gzip data (the cache holds the .gz files; an error page saved by a proxy?); ${REFETCH}`);
  const raw = await decodeIdxBytes(bytes, path, REFETCH);
  // The header first: a wrong magic or count says more than a hash mismatch would.
  const expected = file.key.endsWith('Labels') ? 2049 : 2051;
  const magic = raw.byteLength >= 4 ? new DataView(raw.buffer, raw.byteOffset, 4).getUint32(0) : -1;
  if (magic !== expected) {
    throw new BadInputError(`${path}: IDX magic ${magic}, expected ${expected} (${expected === 2049 ? 'labels' : 'images'}); it is not ${file.name}; ${REFETCH}`);
  }
  parseIdx(raw, path);
  const why = pinMismatch(file, raw);
  if (why) throw new BadInputError(`${path} is not the pinned Fashion-MNIST file (${why}): it changed since it was verified; ${REFETCH}`);
  return raw;
}

const SPLIT_COUNT = { train: 60_000, test: 10_000 } as const;

async function loadSplit(dir: string, split: 'train' | 'test'): Promise<ImageSet> {
  const [imagesFile, labelsFile] = DATASET_FILES.filter((f) => f.key.startsWith(split));
  // Both files decompress in the thread pool at once; the hashes then run on this thread.
  const [imagesRaw, labelsRaw] = await Promise.all([loadVerified(dir, imagesFile), loadVerified(dir, labelsFile)]);
  const images = parseIdx(imagesRaw, join(dir, gzName(imagesFile)));
  const labels = parseIdx(labelsRaw, join(dir, gzName(labelsFile)));
  // The pinned hashes already fix these; checked so that a wrong pin cannot slip through.
  const count = SPLIT_COUNT[split];
  if (images.dims.join() !== [count, IMAGE_SIZE, IMAGE_SIZE].join() || labels.dims.join() !== String(count)) {
    throw new Error(`Fashion-MNIST ${split} split has images ${images.dims.join('x')} and labels ${labels.dims.join('x')}, expected ${count}x${IMAGE_SIZE}x${IMAGE_SIZE} and ${count}`);
  }
  return { images: images.data, labels: labels.data, count };
}

/**
 * Loads the cache's four .gz files, verifying each against its pinned SHA-256 as it loads: a file
 * changed behind the cache's back (whatever its mtime) never reaches training.
 */
export async function loadFashionMnist(dir: string): Promise<{ train: ImageSet; test: ImageSet }> {
  const [train, test] = await Promise.all([loadSplit(dir, 'train'), loadSplit(dir, 'test')]);
  return { train, test };
}
