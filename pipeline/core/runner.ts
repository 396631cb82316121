import { rm } from 'node:fs/promises';
import { removeStaleTemps } from './atomic-file.js';
import { BadInputError, messageOf } from './errors.js';
import { digestPaths, sha256, stableStringify } from './hash.js';
import { faultPoint } from './fault.js';
import { lockRun } from './lock.js';
import type { Logger } from './log.js';
import { gitCommit, packageVersions, readManifest, writeManifest, type RunManifest } from './manifest.js';
import type { Params, StepName } from './params.js';
import type { Step } from './step.js';
import { exists, swapDir } from './files.js';
import { type RunStore } from '../catalog/store.js';
import { initTf, resolveBackend } from '../tfjs/tf.js';

export interface RunOptions {
  steps: Step[];
  /** names of the steps to run (the others are neither run nor checked) */
  selected: StepName[];
  params: Params;
  store: RunStore;
  force: boolean;
  log: Logger;
}

export interface RunSummary {
  ran: StepName[];
  skipped: StepName[];
}

export class StepFailedError extends Error {
  constructor(
    readonly step: StepName,
    override readonly cause: unknown,
  ) {
    super(`step ${step} failed: ${messageOf(cause)}`);
  }
}

/**
 * The fingerprint of a step: its code version, the params it uses, what it reads, and (for steps
 * whose numbers depend on it) the backend.
 */
async function fingerprint(step: Step, params: Params, store: RunStore, backend: string): Promise<string> {
  const reads = step.reads(store);
  for (const path of reads) {
    if (!(await exists(path))) {
      throw new BadInputError(
        `step ${step.name} needs ${path}, which is missing: run the earlier steps first (npm run pipeline -- --to ${step.name})`,
      );
    }
  }
  return sha256(
    stableStringify({
      step: step.name,
      version: step.version,
      params: step.params(params),
      reads: await digestPaths(reads),
      backend: step.usesBackend ? backend : null,
    }),
  );
}

/** Runs the selected steps in pipeline order under the run's lock, recording each in run.json. */
export async function runPipeline(opts: RunOptions): Promise<RunSummary> {
  const { store, params, log } = opts;
  const release = await lockRun(store.runDir, store.runId);
  try {
    const backend = resolveBackend(params.backend);
    log.info(`run ${store.runId} in ${store.runDir}`);
    log.info(`backend: ${backend.name} (${backend.reason})`);
    // Half-written temporary files of a killed run (never read: outputs are renamed into place).
    const stale = (await removeStaleTemps(store.runDir)) + (await removeStaleTemps(store.dataDir));
    if (stale > 0) log.info(`removed ${stale} temporary file(s) left by a killed run`);
    const now = new Date().toISOString();
    const previous = await readManifest(store.runJson);
    const manifest: RunManifest = {
      run_id: store.runId,
      created: previous?.created ?? now,
      updated: now,
      params,
      profile: params.profile,
      seed: params.seed,
      backend: backend.name,
      backend_reason: backend.reason,
      versions: packageVersions(),
      git_commit: await gitCommit(),
      steps: previous?.steps ?? {},
    };
    await writeManifest(store.runJson, manifest);

    const summary: RunSummary = { ran: [], skipped: [] };
    for (const step of opts.steps) {
      if (!opts.selected.includes(step.name)) continue;
      const fp = await fingerprint(step, params, store, backend.name);
      const record = manifest.steps[step.name];
      if (
        !opts.force &&
        record?.status === 'ok' &&
        record.fingerprint === fp &&
        record.outputs === (await digestPaths(step.writes(store)))
      ) {
        log.info(`${step.name}: up to date, skipped`);
        summary.skipped.push(step.name);
        continue;
      }
      const started = new Date();
      manifest.steps[step.name] = { status: 'running', fingerprint: fp, started: started.toISOString() };
      await writeManifest(store.runJson, manifest);
      log.info(`${step.name}: running`);

      // Started only now: a run whose steps are all up to date never pays for it.
      await initTf(params.backend);
      const staged = step.staged !== false;
      const final = store.finalStepDir(step.name);
      const staging = `${final}.staging`;
      try {
        if (staged) await rm(staging, { recursive: true, force: true });
        const ctx = { params, store: staged ? store.withStaging(step.name, staging) : store, log, backend: backend.name, fingerprint: fp, force: opts.force };
        await step.run(ctx);
        faultPoint(`step-done:${step.name}`);
        if (staged) await swapDir(staging, final);
      } catch (err) {
        if (staged) await rm(staging, { recursive: true, force: true });
        manifest.steps[step.name] = {
          status: 'failed',
          fingerprint: fp,
          started: started.toISOString(),
          seconds: (Date.now() - started.getTime()) / 1000,
          error: messageOf(err),
        };
        // When run.json cannot be written either (a full disk), the step's error is the one to
        // report; run.json keeps 'running' for the step, which the next run redoes all the same.
        await writeManifest(store.runJson, manifest).catch(() => undefined);
        if (err instanceof BadInputError) throw err;
        throw new StepFailedError(step.name, err);
      }
      const seconds = (Date.now() - started.getTime()) / 1000;
      manifest.steps[step.name] = {
        status: 'ok',
        fingerprint: fp,
        outputs: await digestPaths(step.writes(store)),
        started: started.toISOString(),
        seconds,
      };
      await writeManifest(store.runJson, manifest);
      log.info(`${step.name}: done in ${seconds.toFixed(1)} s`);
      summary.ran.push(step.name);
    }
    return summary;
  } finally {
    await release();
  }
}
