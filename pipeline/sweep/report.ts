/** What the sweep prints: one line per run as it ends, a failed run's details, the summary line. */
import { pointText, type SweepRun } from './plan.js';
import type { RunResult } from './run.js';

export const succeeded = (r: RunResult): boolean => r.code === 0;

/** Every step was up to date: the run was re-used, nothing trained or redrawn. */
export const reused = (r: RunResult): boolean => succeeded(r) && r.outcome !== undefined && r.outcome.ran.length === 0;

const seconds = (s: number) => `${s.toFixed(1)} s`;

/** "exit 1", "killed by SIGKILL" */
export function endedBy(r: RunResult): string {
  return r.code === null ? `killed by ${r.signal ?? 'a signal'}` : `exit ${r.code}`;
}

/** The line printed when a run ends: `[3/6] quick-seed2-dropout0.3: ...`. */
export function runLine(r: RunResult, ended: number, total: number): string {
  const head = `sweep: [${ended}/${total}] ${r.run.id}`;
  if (!succeeded(r)) {
    const error = r.outcome?.error ? `; ${r.outcome.error.step ? `${r.outcome.error.step}: ` : ''}${r.outcome.error.message}` : '';
    return `${head}: FAILED (${endedBy(r)}${error}) after ${seconds(r.seconds)}; log ${r.log}`;
  }
  const ran = r.outcome?.ran.map((s) => s.step) ?? [];
  const what = ran.length === 0 ? 'up to date, nothing ran' : `ran ${ran.join(', ')}`;
  const accuracy = r.outcome?.test_accuracy == null ? '' : `, test accuracy ${r.outcome.test_accuracy.toFixed(4)}`;
  return `${head}: ${what}${accuracy} (${seconds(r.seconds)})`;
}

/** A failed run in full: which run, how it ended, and the end of its log. */
export function failureDetail(r: RunResult, tail: string[]): string {
  return [`sweep: run ${r.run.id} (${pointText(r.run.point)}) failed: ${endedBy(r)}; the end of ${r.log}:`, ...tail.map((l) => `  | ${l}`)].join('\n');
}

/** The first line: what the sweep is about to do. */
export function planLine(runs: SweepRun[], jobs: number, threads: number | undefined, logDir: string): string {
  const axes = new Map<string, string[]>();
  for (const { option, value } of runs.flatMap((r) => r.point)) {
    const values = axes.get(option) ?? [];
    if (!values.includes(value)) values.push(value);
    axes.set(option, values);
  }
  const shape = [...axes].map(([option, values]) => `${values.length} ${option}${values.length > 1 ? 's' : ''}`).join(' x ');
  const pace = jobs === 1 ? '1 at a time' : `${jobs} at a time${threads === undefined ? '' : `, ${threads} thread${threads > 1 ? 's' : ''} each`}`;
  return `sweep: ${runs.length} run${runs.length === 1 ? '' : 's'} (${shape}), ${pace}; logs in ${logDir}`;
}

/** The last line: how many runs finished, were re-used, failed, and where the comparison is. */
export function summaryLine(results: RunResult[], total: number, gathered: string): string {
  const ok = results.filter(succeeded);
  const failed = results.filter((r) => !succeeded(r));
  const upToDate = ok.filter(reused).length;
  const failures = failed.length === 0 ? '0 failed' : `${failed.length} failed: ${failed.map((r) => `${r.run.id} (${endedBy(r)})`).join(', ')}`;
  return `sweep: ${results.length} runs in ${seconds(total)}: ${ok.length} finished (${upToDate} up to date, ${ok.length - upToDate} ran), ${failures}; ${gathered}`;
}
