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

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command of ours to completion, as `node --import tsx <script>`: the same loader as `tsx
 * <script>` (what `npm run` starts) without tsx's wrapper process, which would start a second node
 * to run the script in (a few hundred milliseconds a call, and the suite makes hundreds), and
 * without npm, which adds nothing but latency. To kill a pipeline mid-run use
 * test/helpers/pipeline-process.ts.
 */
export function runCli(script: string, args: string[], env: NodeJS.ProcessEnv = {}): CliResult {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, script), ...args], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Debian's python3 first: python3-numpy and python3-h5py install there (.ci/system-packages.sh, run
 * by `npm test`), while the first python3 on PATH may be a pyenv or venv one without them.
 */
const PYTHON_CANDIDATES = ['/usr/bin/python3', 'python3'];
const PYTHON_MODULES = ['numpy', 'h5py'];
let pythonFound: string | undefined;

/** The first candidate that imports numpy and h5py; found once, on first use. */
function pythonWithModules(): string {
  if (pythonFound) return pythonFound;
  const tried: string[] = [];
  for (const candidate of PYTHON_CANDIDATES) {
    const r = spawnSync(candidate, ['-c', `import ${PYTHON_MODULES.join(', ')}`], { encoding: 'utf8' });
    if (r.status === 0) return (pythonFound = candidate);
    tried.push(`${candidate}: ${r.error ? r.error.message : r.stderr.trim().split('\n').pop() || `exit ${r.status}`}`);
  }
  throw new Error(
    `no python3 with ${PYTHON_MODULES.join(' and ')} (${tried.join('; ')}); install them with ` +
      `apt-get install python3-numpy python3-h5py (bash .ci/system-packages.sh does)`,
  );
}

/**
 * Runs Python `code` (with `args` as sys.argv[1:]) in an interpreter that has numpy and h5py, the
 * references our .npy files, statistics and Keras exports are checked against; returns its stdout.
 * Never skips: without such an interpreter the test fails saying what to install.
 */
export function python(code: string, args: readonly string[] = []): string {
  return execFileSync(pythonWithModules(), ['-c', code, ...args], { encoding: 'utf8' });
}

/** A JSON file as written, unvalidated (the pipeline reads artifacts through the catalog's schemas). */
export async function readJson<T = unknown>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, 'utf8')) as T;
}
