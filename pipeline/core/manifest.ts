/** run.json: what a run is (params, backend, versions, commit) and what each step did. */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { $ } from 'zx';
import { BadInputError } from './errors.js';
import type { Params, StepName } from './params.js';
import { exists, writeJson } from './files.js';

export interface StepRecord {
  status: 'running' | 'ok' | 'failed';
  fingerprint: string;
  /** digest of what the step wrote, to notice outputs changed or deleted since */
  outputs?: string;
  started: string;
  seconds?: number;
  error?: string;
}

export interface RunManifest {
  run_id: string;
  created: string;
  updated: string;
  params: Params;
  profile: string;
  seed: number;
  backend: string;
  backend_reason: string;
  versions: Record<string, string>;
  git_commit: string;
  steps: Partial<Record<StepName, StepRecord>>;
}

export const PROJECT_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export async function readManifest(path: string): Promise<RunManifest | null> {
  if (!(await exists(path))) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new BadInputError(
      `${path} is corrupt (${(err as Error).message}): delete it to redo the run's steps from their outputs' fingerprints, or delete the run folder`,
    );
  }
  const m = parsed as RunManifest;
  if (!m || typeof m !== 'object' || typeof m.steps !== 'object' || m.steps === null || typeof m.run_id !== 'string') {
    throw new BadInputError(`${path} is not a cnn-lens run manifest (no run_id/steps): delete it, or the run folder`);
  }
  return m;
}

export async function writeManifest(path: string, manifest: RunManifest): Promise<void> {
  manifest.updated = new Date().toISOString();
  await writeJson(path, manifest);
}

function versionOf(packageJson: string): string | null {
  try {
    return (JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string }).version;
  } catch {
    return null;
  }
}

/**
 * Versions of what decides a run's numbers and figures, read from the installed package.json
 * files (some packages, vega among them, do not export theirs to require).
 */
export function packageVersions(): Record<string, string> {
  const versions: Record<string, string> = { node: process.versions.node };
  for (const name of ['@tensorflow/tfjs', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-node', 'vega', 'vega-lite', 'handlebars', '@resvg/resvg-js']) {
    const v = versionOf(join(PROJECT_ROOT, 'node_modules', name, 'package.json'));
    if (v) versions[name] = v; // tfjs-node is optional
  }
  versions['cnn-lens'] = versionOf(join(PROJECT_ROOT, 'package.json')) ?? 'unknown';
  return versions;
}

/** The checkout's commit, with "-dirty" when it has uncommitted changes; "unknown" outside git. */
export async function gitCommit(): Promise<string> {
  try {
    const q = $({ cwd: PROJECT_ROOT, quiet: true });
    const commit = (await q`git rev-parse HEAD`).stdout.trim();
    const dirty = (await q`git status --porcelain --untracked-files=no`).stdout.trim() !== '';
    return dirty ? `${commit}-dirty` : commit;
  } catch {
    return 'unknown';
  }
}
