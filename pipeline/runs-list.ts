/** `npm run runs`: what each run under <artifacts>/runs is (status, profile or model, accuracy, age, size). */
import { lstat, readdir } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { isAbsent, messageOf } from './core/errors.js';
import { lockState } from './core/lock.js';
import { readManifest, type RunManifest } from './core/manifest.js';
import { RUN_ID_PATTERN, RunStore } from './catalog/store.js';
import { testAccuracyOf } from './run-outcome.js';
import { STEP_NAMES } from '../steps/index.js';

/**
 * finished: every step of its pipeline succeeded (or imported its output); partial: steps not done
 * yet, or interrupted; failed: a step failed; running: a live process holds its lock; unreadable:
 * its run.json does not read (`note` says why).
 */
export type RunStatus = 'finished' | 'partial' | 'failed' | 'running' | 'unreadable';

export interface RunInfo {
  id: string;
  dir: string;
  status: RunStatus;
  /** the failed step and its error, the steps not done, the lock's holder, or why run.json does not read */
  note: string | null;
  profile: string | null;
  /** the model file of an imported run (--model) */
  model: string | null;
  test_accuracy: number | null;
  /** run.json's last write */
  updated: string | null;
  age_seconds: number | null;
  /** bytes of every file in the run folder */
  bytes: number;
  /** of which the per-epoch training state: what pruning frees */
  state_bytes: number;
}

/** The folders that hold a run's per-epoch training state (the epochs set aside included). */
export function stateDirs(store: RunStore): string[] {
  const state = store.trainState.dir;
  return [state, `${state}.previous`];
}

/** Bytes of the files under `path` (symbolic links counted as links: the dataset cache is linked, not owned). */
export async function sizeOf(path: string): Promise<number> {
  const info = await lstat(path).catch((err: unknown) => (isAbsent(err) ? null : Promise.reject(err)));
  if (!info) return 0;
  if (!info.isDirectory()) return info.size;
  let total = 0;
  for (const entry of await readdir(path)) total += await sizeOf(join(path, entry));
  return total;
}

/** Every run under `<artifacts>/runs`, by id. */
export async function listRuns(artifacts: string): Promise<RunInfo[]> {
  const root = resolve(artifacts);
  const entries = await readdir(join(root, 'runs'), { withFileTypes: true }).catch((err: unknown) => (isAbsent(err) ? [] : Promise.reject(err)));
  // Folders named like a run id only: a step's staging folder is never at this level, but a user's
  // stray folder might be.
  const ids = entries.filter((e) => e.isDirectory() && RUN_ID_PATTERN.test(e.name)).map((e) => e.name).sort();
  return Promise.all(ids.map((id) => describeRun(new RunStore(root, id))));
}

export async function describeRun(store: RunStore, now = Date.now()): Promise<RunInfo> {
  const bytes = await sizeOf(store.runDir);
  const stateBytes = (await Promise.all(stateDirs(store).map(sizeOf))).reduce((a, b) => a + b, 0);
  const info: RunInfo = {
    id: store.runId,
    dir: store.runDir,
    status: 'partial',
    note: null,
    profile: null,
    model: null,
    test_accuracy: null,
    updated: null,
    age_seconds: null,
    bytes,
    state_bytes: stateBytes,
  };
  let manifest: RunManifest | null;
  try {
    manifest = await readManifest(store.runJson);
  } catch (err) {
    return { ...info, status: 'unreadable', note: messageOf(err) };
  }
  if (manifest) {
    const model = importedModel(manifest);
    Object.assign(info, {
      ...progressOf(manifest),
      profile: model ? null : manifest.profile,
      model,
      test_accuracy: await testAccuracyOf(store),
      updated: manifest.updated,
      age_seconds: Math.max(0, Math.round((now - Date.parse(manifest.updated)) / 1000)),
    });
  } else {
    info.note = 'no run.json';
  }
  const lock = await lockState(store.runDir);
  if (lock.held) return { ...info, status: 'running', note: lock.owner ? `process ${lock.owner.pid} on ${lock.owner.host}` : 'a lock without a holder record' };
  return info;
}

/** The model file a run imported (--model), from its params or its train step's record. */
function importedModel(manifest: RunManifest): string | null {
  const fromParams = manifest.params.model?.path;
  const fromStep = manifest.steps.train?.source?.path;
  const path = fromParams ?? (typeof fromStep === 'string' ? fromStep : undefined);
  return path ?? null;
}

/** Status as run.json records it: finished, failed (which step, why) or partial (what is left). */
export function progressOf(manifest: RunManifest): { status: 'finished' | 'partial' | 'failed'; note: string | null } {
  const pipeline = manifest.pipeline ?? STEP_NAMES;
  const failed = pipeline.find((s) => manifest.steps[s]?.status === 'failed');
  if (failed) return { status: 'failed', note: `${failed}: ${manifest.steps[failed]?.error ?? 'failed'}` };
  const left = pipeline.filter((s) => !['ok', 'imported'].includes(manifest.steps[s]?.status ?? ''));
  if (left.length === 0) return { status: 'finished', note: null };
  const interrupted = left.filter((s) => manifest.steps[s]?.status === 'running');
  return { status: 'partial', note: `${interrupted.length > 0 ? `interrupted in ${interrupted.join(', ')}; ` : ''}not done: ${left.join(', ')}` };
}

const MB = 1024 * 1024;
export const formatBytes = (n: number): string => (n >= MB ? `${(n / MB).toFixed(1)} MB` : `${(n / 1024).toFixed(1)} kB`);

function formatAge(seconds: number | null): string {
  if (seconds === null) return '-';
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h`;
  return `${Math.floor(seconds / 86400)} d`;
}

/** One line per run under a header, columns aligned; a note (what failed, what is left) at the end. */
export function formatRuns(runs: RunInfo[]): string[] {
  const rows = runs.map((r) => [
    r.id,
    r.status,
    r.model ? `model ${basename(r.model)}` : (r.profile ?? '-'),
    r.test_accuracy === null ? '-' : r.test_accuracy.toFixed(4),
    formatAge(r.age_seconds),
    formatBytes(r.bytes),
    r.note ?? '',
  ]);
  const header = ['run', 'status', 'profile', 'test acc', 'age', 'size', ''];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  return [header, ...rows].map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ').trimEnd());
}
