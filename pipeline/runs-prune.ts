/**
 * `npm run runs -- --prune`: deletes the per-epoch training state of finished runs (most of a run
 * folder's size). The state is train's scratch for resuming, not its product (a ScratchFolder, in
 * no digest), so a pruned run's next `npm run pipeline` still skips every step.
 */
import { rm } from 'node:fs/promises';
import { relative } from 'node:path';
import { BadInputError } from './core/errors.js';
import { digestPaths } from './core/hash.js';
import { lockRun } from './core/lock.js';
import { readManifest } from './core/manifest.js';
import { pathsOf } from './core/step.js';
import type { RunStore } from './catalog/store.js';
import { progressOf, sizeOf, stateDirs } from './runs-list.js';
import { STEPS } from '../steps/index.js';

export interface Pruned {
  id: string;
  /** bytes deleted */
  freed: number;
  /** the folders deleted, relative to the run folder */
  removed: string[];
}

/**
 * Prunes one run under its lock, so that no pipeline writes it meanwhile (a run being written is
 * refused: BadInputError naming the holder). A run that is not finished is refused too: its saved
 * epochs are what its next run resumes from.
 */
export async function pruneRun(store: RunStore): Promise<Pruned> {
  const release = await lockRun(store.runDir, store.runId);
  try {
    await checkPrunable(store);
    const pruned: Pruned = { id: store.runId, freed: 0, removed: [] };
    for (const dir of stateDirs(store)) {
      const bytes = await sizeOf(dir);
      if (bytes === 0) continue;
      await rm(dir, { recursive: true, force: true });
      pruned.freed += bytes;
      pruned.removed.push(relative(store.runDir, dir));
    }
    return pruned;
  } finally {
    await release();
  }
}

/**
 * Finished, and train's outputs as run.json recorded them: then the next pipeline run skips train
 * without its state. A run.json recorded by a cnn-lens that counted the state among train's
 * outputs (or outputs changed since) would make that run re-run train, from scratch once pruned.
 */
async function checkPrunable(store: RunStore): Promise<void> {
  const manifest = await readManifest(store.runJson);
  if (!manifest) throw new BadInputError(`run ${store.runId} has no run.json (${store.runJson}): it is not a finished run, so its training state is kept`);
  const { status, note } = progressOf(manifest);
  if (status !== 'finished') {
    throw new BadInputError(`run ${store.runId} is ${status} (${note}): its training state is kept for the run that finishes it; finish it (npm run pipeline) first`);
  }
  const train = STEPS.find((s) => s.name === 'train');
  const record = manifest.steps.train;
  if (!train || !record || record.status !== 'ok') return; // imported: nothing was trained
  if (record.outputs !== (await digestPaths(pathsOf(train.outputs(store))))) {
    throw new BadInputError(
      `run ${store.runId}: train's outputs differ from what ${store.runJson} records (recorded by an older cnn-lens, or changed since), so its next run re-runs train and would train again without the saved epochs: run the pipeline on it once, then prune`,
    );
  }
}
