/**
 * Before any test file: a small finished run made by the real pipeline CLI (the whole pipeline,
 * 256 training images, 1 epoch), for the test files that need a complete run folder to read, copy
 * or damage. Test files must not change it: copy it first (`cp -r` under the same artifacts
 * folder keeps the dataset cache beside the copy).
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
import { runCli, tempDir } from './helpers.js';
import { SYSTEM_DATASET } from './helpers/fixture-run.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** the folder of a finished tiny run: <artifacts>/runs/tiny */
    tinyRun: string;
    /** the options that made it (the same command again skips every step) */
    tinyArgs: string[];
  }
}

export const TINY_ARGS = ['--profile', 'quick', '--train-size', '256', '--val-size', '64', '--epochs', '1', '--backend', 'wasm', '--run', 'tiny'];

async function tinyRun(root: string): Promise<{ store: RunStore; code: number | null; output: string }> {
  const store = new RunStore(join(root, 'artifacts'), 'tiny');
  await mkdir(store.dataDir, { recursive: true });
  for (const path of datasetFiles(store.dataDir)) await symlink(join(SYSTEM_DATASET, basename(path)), path).catch(() => undefined);
  // Copies that earlier suites made and damaged.
  for (const id of await readdir(join(store.artifacts, 'runs')).catch(() => [])) {
    if (id !== 'tiny') await rm(join(store.artifacts, 'runs', id), { recursive: true, force: true });
  }
  const r = runCli('pipeline/main.ts', [...TINY_ARGS, '--artifacts', store.artifacts], { CNN_LENS_MIRRORS: '', CNN_LENS_NO_APT: '1' });
  return { store, code: r.code, output: `${r.stdout}\n${r.stderr}` };
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const shared = join(tmpdir(), `cnn-lens-suite-${createHash('sha256').update(PROJECT_ROOT).digest('hex').slice(0, 12)}`);
  let fresh: string | undefined;
  let made = await tinyRun(shared);
  if (made.code === 2 && /lock|being written/i.test(made.output)) made = await tinyRun((fresh = tempDir('cnn-lens-suite-')));
  if (made.code !== 0) throw new Error(`the suite's tiny run failed (exit ${made.code}):\n${made.output}`);
  project.provide('tinyRun', made.store.runDir);
  project.provide('tinyArgs', TINY_ARGS);
  return async () => {
    if (fresh) await rm(fresh, { recursive: true, force: true });
  };
}
