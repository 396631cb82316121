/**
 * The real CLI as a child process that a test can kill -9 at a chosen moment, and snapshots of the
 * folders it writes. The child is `node --import tsx pipeline/main.ts`, not the tsx wrapper
 * (helpers.ts): tsx runs the program in a grandchild, so a SIGKILL sent to the wrapper would
 * leave the real pipeline running, and the lock would name a PID the test never saw.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { PROJECT_ROOT } from '../../pipeline/core/manifest.js';

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  seconds: number;
}

export interface Pipeline {
  pid: number;
  /** Resolves when the output (stdout + stderr) matches, rejects when the process ends first. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  kill9(): Promise<Finished>;
  /** Ctrl-C: SIGINT, as a terminal sends it. */
  interrupt(): Promise<Finished>;
  /** SIGTERM, as a CI runner or `kill` sends it. */
  terminate(): Promise<Finished>;
  done: Promise<Finished>;
  output(): string;
}

/**
 * Environment of every child: no network source for the dataset (the Debian folder is the only
 * one), no fault unless asked for, no user folder from the caller's environment.
 */
const BASE_ENV: NodeJS.ProcessEnv = { CNN_LENS_MIRRORS: '', CNN_LENS_NO_APT: '1', CNN_LENS_FAULT: '', FASHION_MNIST_DIR: '' };

/** `as`: run as another user (a root test process runs the child as nobody to meet EACCES). */
export function startPipeline(args: string[], env: NodeJS.ProcessEnv = {}, as?: { uid: number; gid: number }): Pipeline {
  const started = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'pipeline', 'main.ts'), ...args], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...BASE_ENV, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...as,
  });
  let stdout = '';
  let stderr = '';
  const watchers = new Set<() => void>();
  const seen = () => watchers.forEach((w) => w());
  child.stdout.on('data', (d: Buffer) => ((stdout += d.toString()), seen()));
  child.stderr.on('data', (d: Buffer) => ((stderr += d.toString()), seen()));
  const done = new Promise<Finished>((resolve) =>
    child.on('close', (code, signal) => {
      seen();
      resolve({ code, signal, stdout, stderr, seconds: (performance.now() - started) / 1000 });
    }),
  );
  let ended = false;
  void done.then(() => (ended = true));
  const output = () => stdout + stderr;
  return {
    pid: child.pid!,
    done,
    output,
    waitFor(pattern, timeoutMs = 120_000) {
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => finish(new Error(`timed out waiting for ${pattern} in:\n${output()}`)), timeoutMs);
        const check = () => {
          if (pattern.test(output())) finish();
          else if (ended || child.exitCode !== null || child.signalCode !== null) finish(new Error(`the pipeline ended before ${pattern} appeared:\n${output()}`));
        };
        const finish = (err?: Error) => {
          clearTimeout(timer);
          watchers.delete(check);
          if (err) reject(err);
          else resolve();
        };
        watchers.add(check);
        check();
      });
    },
    async kill9() {
      child.kill('SIGKILL');
      return done;
    },
    async interrupt() {
      child.kill('SIGINT');
      return done;
    },
    async terminate() {
      child.kill('SIGTERM');
      return done;
    },
  };
}

/** Runs the CLI to its end. */
export function runPipelineCli(args: string[], env: NodeJS.ProcessEnv = {}, as?: { uid: number; gid: number }): Promise<Finished> {
  return startPipeline(args, env, as).done;
}

/**
 * Every file under `dir` (recursively, dot files too) by path relative to `dir`, with its SHA-256;
 * every folder as `<path>/` with the value "dir". A missing `dir` is an empty map.
 */
export async function snapshot(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string): Promise<void> => {
    for (const entry of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      const full = join(d, entry.name);
      if (entry.isDirectory()) {
        out.set(`${relative(dir, full)}/`, 'dir');
        await walk(full);
      }
      else out.set(relative(dir, full), createHash('sha256').update(await readFile(full)).digest('hex'));
    }
  };
  await walk(dir);
  return new Map([...out].sort(([a], [b]) => a.localeCompare(b)));
}

/**
 * A fault point (pipeline/core/fault.ts) where a child pauses until the test lets it go on: pass
 * `env` to the child, wait for `reached` in its output, call `release()`. The order of several
 * children is then made by the test, never left to timing.
 */
export interface Pause {
  env: NodeJS.ProcessEnv;
  reached: RegExp;
  release(): Promise<void>;
}

let pauses = 0;

/** `dir`: where the release file goes (a temporary folder of the test). */
export function pauseAt(point: string, dir: string, hit = 1): Pause {
  const file = join(dir, `release-${++pauses}`);
  const escaped = point.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return {
    env: { CNN_LENS_FAULT: `${point}@${hit},pause-until=${file}` },
    reached: new RegExp(`^fault: paused at ${escaped} until `, 'm'),
    release: () => writeFile(file, ''),
  };
}
