/** Shared test plumbing: temp folders and the real CLI as a child process. */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../pipeline/core/manifest.js';

export function tempDir(prefix = 'cnn-lens-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

const TSX = join(PROJECT_ROOT, 'node_modules', '.bin', 'tsx');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command of ours to completion (through tsx directly: npm adds nothing but latency). To kill
 * a pipeline mid-run use test/helpers/pipeline-process.ts: killing tsx's wrapper would leave the
 * real process running.
 */
export function runCli(script: string, args: string[], env: NodeJS.ProcessEnv = {}): CliResult {
  const r = spawnSync(TSX, [join(PROJECT_ROOT, script), ...args], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** numpy is there to check our .npy files and statistics against (tests that need it skip without it). */
export const hasNumpy = (() => {
  try {
    execFileSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** A JSON file as written, unvalidated (the pipeline reads artifacts through the catalog's schemas). */
export async function readJson<T = unknown>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, 'utf8')) as T;
}
