/**
 * The sweep's runs, `jobs` at a time, each the pipeline's CLI in a child process of its own: a run
 * that fails, or is killed, cannot take the others down, and each run skips what is up to date
 * exactly as `npm run pipeline` does. Each child's log goes to a file; its stdout is the one JSON
 * line of `--json`, the run's outcome.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, openSync, writeSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SweepRun } from './plan.js';

/** The part of the pipeline's `--json` line (README "Scripting the pipeline") the sweep reads. */
export interface PipelineOutcome {
  status: 'ok' | 'failed';
  exit_code: number;
  ran: { step: string; seconds: number }[];
  skipped: { step: string; seconds: number }[];
  test_accuracy: number | null;
  error: { step: string | null; message: string } | null;
}

export interface RunResult {
  run: SweepRun;
  /** the child's exit code; null when a signal ended it */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** the JSON line, when the child got to write it */
  outcome?: PipelineOutcome;
  seconds: number;
  log: string;
}

export interface SweepRunOptions {
  /** pipeline/main.ts */
  script: string;
  /** absolute: the children run in this process's working directory, but the logs name it */
  artifacts: string;
  jobs: number;
  /** --threads for each run; undefined: the pipeline's default (every core) */
  threads?: number;
  logDir: string;
  /** called as each run ends, in the order they end */
  onEnd(result: RunResult): void;
}

/** Children still running, ended with this process (a sweep stopped by Ctrl-C or SIGTERM leaves no run training on). */
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGTERM');
});

/** The last JSON object line of stdout (the pipeline writes exactly one), if any. */
function outcomeOf(stdout: string): PipelineOutcome | undefined {
  const line = stdout.trimEnd().split('\n').at(-1);
  if (!line?.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as PipelineOutcome;
  } catch {
    return undefined;
  }
}

/** The argv of one run's pipeline: its options, then what the sweep decides. */
export function pipelineArgv(run: SweepRun, opts: Pick<SweepRunOptions, 'artifacts' | 'threads'>): string[] {
  return [...run.args, '--artifacts', opts.artifacts, ...(opts.threads === undefined ? [] : ['--threads', String(opts.threads)]), '--json'];
}

async function runOne(run: SweepRun, opts: SweepRunOptions): Promise<RunResult> {
  const log = join(opts.logDir, `${run.id}.log`);
  const argv = pipelineArgv(run, opts);
  // Appended: a sweep run again keeps the earlier runs' logs (the training one above the no-op).
  const fd = openSync(log, 'a');
  writeSync(fd, `[${new Date().toISOString()}] npm run pipeline -- ${argv.join(' ')}\n`);
  const started = performance.now();
  // The tsx loader by path: the child keeps this process's working directory (relative paths in
  // the options mean the same), wherever node would look for packages from there.
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), opts.script, ...argv], { stdio: ['ignore', 'pipe', fd] });
  closeSync(fd);
  running.add(child);
  let stdout = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
    child.on('error', (err) => {
      appendFileSync(log, `sweep: could not start the pipeline: ${err.message}\n`);
      resolve([127, null]);
    });
    child.on('close', (c, s) => resolve([c, s]));
  });
  running.delete(child);
  return { run, code, signal, outcome: outcomeOf(stdout), seconds: (performance.now() - started) / 1000, log };
}

/** Runs them all, `jobs` at a time, in order; the results in the runs' order. */
export async function runSweep(runs: SweepRun[], opts: SweepRunOptions): Promise<RunResult[]> {
  await mkdir(opts.logDir, { recursive: true });
  const results: RunResult[] = new Array(runs.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < runs.length) {
      const i = next++;
      results[i] = await runOne(runs[i], opts);
      opts.onEnd(results[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.jobs, runs.length) }, worker));
  return results;
}

/** The last `n` lines of a run's log, for a failed run's report. */
export async function logTail(path: string, n = 12): Promise<string[]> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text.split('\n').filter((l) => l.trim() !== '').slice(-n);
}
