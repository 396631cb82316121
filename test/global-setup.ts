/**
 * Before any test file: the suite's dataset cache, filled by the download step's own chain (the
 * cache, FASHION_MNIST_DIR, Debian's package, the mirrors, apt-get download: the first copy that
 * verifies against the pinned SHA-256s), so that no test assumes where the data came from; then a
 * small finished run made by the real pipeline CLI (the whole pipeline, 256 training images, 1
 * epoch), for the test files that need a complete run folder to read, copy or damage. Test files
 * must not change either: copy them first (`cp -r` under the same artifacts folder keeps the
 * dataset cache beside the copy).
 *
 * It lives in one folder per checkout and is made by the same command every time: the pipeline
 * skips every step while the code is unchanged (seconds), and redoes exactly what an edit touched.
 * When another suite holds that run's lock, this one makes its own in a fresh folder.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { PROJECT_ROOT } from '../pipeline/core/manifest.js';
import type { TestProject } from 'vitest/node';
import { datasetFiles } from '../pipeline/catalog/dataset.js';
import { RunStore } from '../pipeline/catalog/store.js';
import { consoleLogger } from '../pipeline/core/log.js';
import { acquireDataset } from '../pipeline/data/download-chain.js';
import { datasetSources } from '../steps/download.js';
import { runCli, tempDir } from './helpers.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** the folder of a finished tiny run: <artifacts>/runs/tiny */
    tinyRun: string;
    /** the options that made it (the same command again skips every step) */
    tinyArgs: string[];
    /** the suite's dataset cache: the four verified Fashion-MNIST .gz files (datasetDir() in test/helpers/fixture-run.ts) */
    datasetDir: string;
  }
}

export const TINY_ARGS = ['--profile', 'quick', '--train-size', '256', '--val-size', '64', '--epochs', '1', '--backend', 'wasm', '--run', 'tiny'];

/**
 * What the download step does, with its default sources: another suite filling the same cache is
 * waited for (the cache lock), and a filled cache is checked in milliseconds.
 */
async function fillDatasetCache(dir: string): Promise<void> {
  try {
    await acquireDataset({ cacheDir: dir, sources: datasetSources(undefined), log: consoleLogger({ quiet: true }) });
  } catch (err) {
    throw new Error(`the suite's dataset cache ${dir} could not be filled: ${(err as Error).message}`, { cause: err });
  }
}

async function tinyRun(root: string, datasetDir: string): Promise<{ store: RunStore; code: number | null; output: string }> {
  const store = new RunStore(join(root, 'artifacts'), 'tiny');
  if (store.dataDir !== datasetDir) {
    // A fresh folder: its cache gets the suite's verified files (the download step verifies them again).
    await mkdir(store.dataDir, { recursive: true });
    for (const path of datasetFiles(store.dataDir)) await symlink(join(datasetDir, basename(path)), path).catch(() => undefined);
  }
  // Copies that earlier suites made and damaged.
  for (const id of await readdir(join(store.artifacts, 'runs')).catch(() => [])) {
    if (id !== 'tiny') await rm(join(store.artifacts, 'runs', id), { recursive: true, force: true });
  }
  const r = runCli('pipeline/main.ts', [...TINY_ARGS, '--artifacts', store.artifacts], { CNN_LENS_MIRRORS: '', CNN_LENS_NO_APT: '1' });
  return { store, code: r.code, output: `${r.stdout}\n${r.stderr}` };
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const shared = join(tmpdir(), `cnn-lens-suite-${createHash('sha256').update(PROJECT_ROOT).digest('hex').slice(0, 12)}`);
  const datasetDir = new RunStore(join(shared, 'artifacts'), 'tiny').dataDir;
  await fillDatasetCache(datasetDir);
  let fresh: string | undefined;
  let made = await tinyRun(shared, datasetDir);
  if (made.code === 2 && /lock|being written/i.test(made.output)) made = await tinyRun((fresh = tempDir('cnn-lens-suite-')), datasetDir);
  if (made.code !== 0) throw new Error(`the suite's tiny run failed (exit ${made.code}):\n${made.output}`);
  project.provide('datasetDir', datasetDir);
  project.provide('tinyRun', made.store.runDir);
  project.provide('tinyArgs', TINY_ARGS);
  return async () => {
    if (fresh) await rm(fresh, { recursive: true, force: true });
  };
}
