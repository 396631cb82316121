/**
 * Built once per `vitest run`, before any test file: a small finished run made by the real
 * pipeline CLI (the whole pipeline, 256 training images, 1 epoch), for the test files that need
 * a complete run folder to read, copy or damage. Test files must not change it: copy it first
 * (`cp -r` under the same artifacts folder keeps the dataset cache beside the copy).
 */
import { mkdir, rm, symlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
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

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const root = tempDir('cnn-lens-suite-');
  const store = new RunStore(join(root, 'artifacts'), 'tiny');
  await mkdir(store.dataDir, { recursive: true });
  for (const path of datasetFiles(store.dataDir)) await symlink(join(SYSTEM_DATASET, basename(path)), path);
  const r = runCli('pipeline/main.ts', [...TINY_ARGS, '--artifacts', store.artifacts], { CNN_LENS_MIRRORS: '', CNN_LENS_NO_APT: '1' });
  if (r.code !== 0) throw new Error(`the suite's tiny run failed (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  project.provide('tinyRun', store.runDir);
  project.provide('tinyArgs', TINY_ARGS);
  return () => rm(root, { recursive: true, force: true });
}
