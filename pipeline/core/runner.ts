import { rm } from 'node:fs/promises';
import { removeStaleTemps } from './atomic-file.js';
import { codeDigest } from './code-digest.js';
import { BadInputError, messageOf } from './errors.js';
import { faultPoint } from './fault.js';
import { exists, swapDir } from './files.js';
import { digestPaths, sha256, stableStringify } from './hash.js';
import { lockRun } from './lock.js';
import type { Logger } from './log.js';
import { gitCommit, packageVersions, readManifest, RUN_SCHEMA_VERSION, writeManifest, type FingerprintParts, type RunManifest } from './manifest.js';
import { recordedParams, type Params } from './params.js';
import { pathsOf, type RunFolder, type Step, type StepOutcome } from './step.js';

export interface Backend {
  /** The backend in use: tensorflow, wasm or cpu. */
  name: string;
  /** Why it was taken, for the log and run.json. */
  reason: string;
}

export interface RunOptions<S extends RunFolder<S>> {
  steps: readonly Step<S>[];
  /** names of the steps to run (the others are neither run nor checked) */
  selected: readonly string[];
  params: Params;
  store: S;
  force: boolean;
  log: Logger;
  backend: Backend;
  /** The modules that set the backend up (its kernels): part of the code of every step that `usesBackend`. */
  backendCode: readonly string[];
  /** The packages of the backend: their versions are part of the code of every step that `usesBackend`. */
  backendPackages: readonly string[];
  /** Starts the backend; called before the first step that runs (a no-op re-run never pays for it). */
  startBackend(): Promise<void>;
  /**
   * The entry point's own writes into the run folder (--image's copies), made under the run's
   * lock before any step is checked: a second pipeline on the run is refused before they happen.
   */
  prepare?(): Promise<void>;
  /**
   * Filled in as the steps go: the caller still has it when runPipeline throws or the process is
   * interrupted, for the last line of the run (`--json`).
   */
  progress?: RunProgress;
}

export interface RunSummary {
  ran: string[];
  skipped: string[];
}

export interface RunProgress extends RunSummary {
  /** per step handled: a ran step's duration (as in run.json), a skipped one's check */
  seconds: Record<string, number>;
  /** the step being checked or run; still set when runPipeline throws: the step that failed */
  current: string | null;
}

export const newProgress = (): RunProgress => ({ ran: [], skipped: [], seconds: {}, current: null });

export class StepFailedError extends Error {
  constructor(
    readonly step: string,
    override readonly cause: unknown,
  ) {
    super(`step ${step} failed: ${messageOf(cause)}`);
  }
}

/**
 * What a step's output depends on, each part hashed: the params it uses, what it reads, its code
 * (its module, every project module it loads, its templates, the versions of the packages whose
 * output it records) and, for steps whose numbers depend on it, the backend.
 */
async function fingerprintParts<S>(step: Step<S>, params: Params, store: S, backend: Backend, opts: Pick<RunOptions<never>, 'backendCode' | 'backendPackages'>): Promise<FingerprintParts> {
  const reads = pathsOf(step.inputs(store, params));
  for (const path of reads) {
    if (!(await exists(path))) {
      throw new BadInputError(
        `step ${step.name} needs ${path}, which is missing: run the earlier steps first (npm run pipeline -- --to ${step.name})`,
      );
    }
  }
  const versions = packageVersions();
  const code = await codeDigest(step.usesBackend ? [step.module, ...opts.backendCode] : [step.module], step.files?.() ?? []);
  const packages = [...(step.packages ?? []), ...(step.usesBackend ? opts.backendPackages : [])];
  return {
    params: sha256(stableStringify(step.params(params))),
    inputs: await digestPaths(reads),
    code: sha256(stableStringify({ code: code.digest, packages: packages.map((p) => [p, versions[p] ?? null]) })),
    backend: step.usesBackend ? backend.name : null,
  };
}

const fingerprintOf = (step: string, parts: FingerprintParts) => sha256(stableStringify({ step, ...parts }));

/** Which parts changed since the recorded run of the step, for the log ("figures: code changed"). */
function whatChanged(before: FingerprintParts | undefined, now: FingerprintParts): string {
  if (!before) return '';
  const changed = (Object.keys(now) as (keyof FingerprintParts)[]).filter((k) => before[k] !== now[k]);
  return changed.length > 0 ? ` (${changed.join(', ')} changed)` : '';
}

/** Runs the selected steps in pipeline order under the run's lock, recording each in run.json. */
export async function runPipeline<S extends RunFolder<S>>(opts: RunOptions<S>): Promise<RunSummary> {
  const { store, params, log, backend } = opts;
  const release = await lockRun(store.runDir, store.runId, log);
  try {
    log.info(`run ${store.runId} in ${store.runDir}`);
    log.info(`backend: ${backend.name} (${backend.reason})`);
    // Half-written temporary files of a killed run (never read: outputs are renamed into place).
    let stale = 0;
    for (const dir of store.scratchDirs) stale += await removeStaleTemps(dir);
    if (stale > 0) log.info(`removed ${stale} temporary file(s) left by a killed run`);
    await opts.prepare?.();
    const manifest = await openManifest(store, params, backend, opts.steps.map((s) => s.name));

    const summary = opts.progress ?? newProgress();
    for (const step of opts.steps) {
      if (!opts.selected.includes(step.name)) continue;
      summary.current = step.name;
      const checking = Date.now();
      const parts = await fingerprintParts(step, params, store, backend, opts);
      const fp = fingerprintOf(step.name, parts);
      const record = manifest.steps[step.name];
      if (
        !opts.force &&
        (record?.status === 'ok' || record?.status === 'imported') &&
        record.fingerprint === fp &&
        record.outputs === (await digestPaths(pathsOf(step.outputs(store))))
      ) {
        log.info(`${step.name}: up to date, skipped`);
        summary.skipped.push(step.name);
        summary.seconds[step.name] = (Date.now() - checking) / 1000;
        continue;
      }
      const started = new Date();
      manifest.steps[step.name] = { status: 'running', fingerprint: fp, parts, started: started.toISOString() };
      await writeManifest(store.runJson, manifest);
      log.info(`${step.name}: running${opts.force ? ' (--force)' : whatChanged(record?.parts, parts)}`);

      await opts.startBackend();
      const outcome = await runStep(step, store, { params, log, backend: backend.name, force: opts.force }).catch(async (err: unknown) => {
        manifest.steps[step.name] = {
          status: 'failed',
          fingerprint: fp,
          parts,
          started: started.toISOString(),
          seconds: (Date.now() - started.getTime()) / 1000,
          error: messageOf(err),
        };
        // When run.json cannot be written either (a full disk), the step's error is the one to
        // report; run.json keeps 'running' for the step, which the next run redoes all the same.
        await writeManifest(store.runJson, manifest).catch(() => undefined);
        throw err instanceof BadInputError ? err : new StepFailedError(step.name, err);
      });
      const seconds = (Date.now() - started.getTime()) / 1000;
      manifest.steps[step.name] = {
        status: outcome?.status ?? 'ok',
        ...(outcome ? { source: outcome.source } : {}),
        fingerprint: fp,
        parts,
        outputs: await digestPaths(pathsOf(step.outputs(store))),
        started: started.toISOString(),
        seconds,
      };
      await writeManifest(store.runJson, manifest);
      log.info(`${step.name}: ${outcome ? outcome.status : 'done'} in ${seconds.toFixed(1)} s`);
      summary.ran.push(step.name);
      summary.seconds[step.name] = seconds;
    }
    summary.current = null;
    return { ran: summary.ran, skipped: summary.skipped };
  } finally {
    await release();
  }
}

/** run.json as this run starts: what the run is now, and the step records of earlier runs. */
async function openManifest<S extends RunFolder<S>>(store: S, params: Params, backend: Backend, pipeline: string[]): Promise<RunManifest> {
  const now = new Date().toISOString();
  const previous = await readManifest(store.runJson);
  const manifest: RunManifest = {
    schema_version: RUN_SCHEMA_VERSION,
    run_id: store.runId,
    created: previous?.created ?? now,
    updated: now,
    params: recordedParams(params),
    profile: params.model ? 'imported' : params.profile,
    seed: params.seed,
    backend: backend.name,
    backend_reason: backend.reason,
    versions: packageVersions(),
    git_commit: await gitCommit(),
    pipeline,
    steps: previous?.steps ?? {},
  };
  await writeManifest(store.runJson, manifest);
  return manifest;
}

/** Runs one step; a staged step writes into `<folder>.staging`, swapped into place only when it succeeds. */
async function runStep<S extends RunFolder<S>>(
  step: Step<S>,
  store: S,
  ctx: { params: Params; log: Logger; backend: string; force: boolean },
): Promise<void | StepOutcome> {
  const staged = step.staged !== false;
  const final = store.finalStepDir(step.name);
  const staging = `${final}.staging`;
  try {
    if (staged) await rm(staging, { recursive: true, force: true });
    const view = staged ? store.withStaging(step.name, staging) : store;
    const outcome = await step.run({ ...ctx, runId: store.runId, inputs: step.inputs(store, ctx.params), outputs: step.outputs(view) });
    faultPoint(`step-done:${step.name}`);
    if (staged) await swapDir(staging, final);
    return outcome;
  } catch (err) {
    if (staged) await rm(staging, { recursive: true, force: true });
    throw err;
  }
}
