/**
 * A run folder for the tests of the figures and report steps: a copy of the suite's tiny run
 * (test/global-setup.ts), which the real pipeline CLI made from the real dataset. The report
 * must show that run's own metrics.json, history.json and stats.json, whose numbers differ from
 * the book's (which the page prints as a labelled reference): a test that finds a number on the
 * page therefore knows where it came from. The copy is the test's own to change; the original is
 * shared by every test file.
 */
import { cp, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { inject } from 'vitest';
import { readManifest, type RunManifest } from '../../pipeline/core/manifest.js';
import { PROFILE_DEFAULTS, type Params } from '../../pipeline/core/params.js';
import { RunStore } from '../../pipeline/catalog/store.js';
import { tempDir } from '../helpers.js';
import { stepContext } from './step-context.js';

export { stepContext };

export interface ReportRun {
  root: string;
  store: RunStore;
  /** the params the run was made with, from its run.json */
  params: Params;
  manifest: RunManifest;
  cleanup(): Promise<void>;
}

/**
 * Copies the tiny run into a fresh artifacts folder and deletes the outputs of `from` and of the
 * steps after it, so that what the test reads there was written by the step the test runs.
 */
export async function copyTinyRun(from: 'figures' | 'report'): Promise<ReportRun> {
  const tiny = inject('tinyRun');
  const root = tempDir('cnn-lens-report-run-');
  const store = new RunStore(join(root, 'artifacts'), basename(tiny));
  await cp(tiny, store.runDir, { recursive: true });
  if (from === 'figures') await rm(store.figures.dir, { recursive: true });
  await rm(store.reportHtml.path);
  await rm(store.reportJson.path);
  const manifest = await readManifest(store.runJson);
  if (!manifest) throw new Error(`${tiny} has no run.json: the suite's tiny run is not a finished run`);
  // run.json records every param of a run made by this version; the defaults only fill the type.
  const params = { ...PROFILE_DEFAULTS.book, profile: 'book', backend: 'auto', lang: 'en', ...manifest.params } as Params;
  return { root, store, params, manifest, cleanup: () => rm(root, { recursive: true, force: true }) };
}
