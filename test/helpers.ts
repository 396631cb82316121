/** Shared test plumbing: temp folders and the real CLI as a child process. */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../pipeline/manifest.js';

export function tempDir(prefix = 'cnn-lens-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

const TSX = join(PROJECT_ROOT, 'node_modules', '.bin', 'tsx');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `npm run pipeline -- <args>` (through tsx directly: npm adds nothing but latency). */
export function runCli(script: string, args: string[], env: NodeJS.ProcessEnv = {}): CliResult {
  const r = spawnSync(TSX, [join(PROJECT_ROOT, script), ...args], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Starts the CLI without waiting; the caller kills or awaits it. */
export function startCli(script: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const child = spawn(TSX, [join(PROJECT_ROOT, script), ...args], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CliResult>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return { child, done, output: () => stdout + stderr };
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
