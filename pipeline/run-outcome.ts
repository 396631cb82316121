/**
 * The last line of `npm run pipeline`, the one a script reads (README "The last line"): the report,
 * the last step's output, or the failed step and its error; with --json, all of it as one object.
 */
import { messageOf } from './core/errors.js';
import { readManifest } from './core/manifest.js';
import { StepFailedError, type RunProgress } from './core/runner.js';
import type { RunStore } from './catalog/store.js';

export interface StepTime {
  step: string;
  seconds: number;
}

/** The JSON line of `--json` (keys as in run.json: snake case). */
export interface RunOutcome {
  run_id: string | null;
  run_dir: string | null;
  status: 'ok' | 'failed';
  exit_code: number;
  /** in pipeline order; a ran step's seconds are its duration in run.json */
  ran: StepTime[];
  /** up to date; seconds: what checking it took */
  skipped: StepTime[];
  /** checkpoint/metrics.json's test.accuracy, when the checkpoint step has succeeded */
  test_accuracy: number | null;
  /** report.html, when this run made it or found it up to date */
  report: string | null;
  /** the last step selected and what it writes (a successful run's last line) */
  output: { step: string; path: string } | null;
  /** step: null when the run stopped before any step (bad usage, a held lock) */
  error: { step: string | null; message: string } | null;
}

/** What the invocation got to before it ended: each part is there once it is known. */
export interface RunState {
  store?: RunStore;
  selected?: readonly string[];
  progress?: RunProgress;
}

/** Where a step's output lies: its folder, the dataset cache for download, report.html for report. */
export function outputOf(store: RunStore, step: string): string {
  if (step === 'report') return store.reportHtml.path;
  if (step === 'download') return store.dataDir;
  return store.finalStepDir(step);
}

/** The outcome from what is known now; no file is read (a signal handler calls it). */
export function outcomeOf(state: RunState, ended: { err?: unknown; code: number; testAccuracy?: number | null }): RunOutcome {
  const { store, progress } = state;
  const times = (names: readonly string[]): StepTime[] => names.map((step) => ({ step, seconds: progress?.seconds[step] ?? 0 }));
  const done = [...(progress?.ran ?? []), ...(progress?.skipped ?? [])];
  const last = state.selected?.at(-1);
  const failed = ended.err !== undefined;
  return {
    run_id: store?.runId ?? null,
    run_dir: store?.runDir ?? null,
    status: failed ? 'failed' : 'ok',
    exit_code: ended.code,
    ran: times(progress?.ran ?? []),
    skipped: times(progress?.skipped ?? []),
    test_accuracy: ended.testAccuracy ?? null,
    report: store && done.includes('report') ? outputOf(store, 'report') : null,
    output: store && last && !failed ? { step: last, path: outputOf(store, last) } : null,
    error: failed ? errorOf(ended.err, progress) : null,
  };
}

function errorOf(err: unknown, progress: RunProgress | undefined): { step: string | null; message: string } {
  if (err instanceof StepFailedError) return { step: err.step, message: messageOf(err.cause) };
  // A bad input met in a step (its inputs missing, a damaged file) is that step's failure; bad
  // usage, a held lock or an unreadable run.json comes before any step.
  return { step: progress?.current ?? null, message: messageOf(err) };
}

/**
 * The test accuracy of the model the run holds, when its checkpoint step has succeeded; null when
 * it has not, or its metrics.json does not read (the last line never fails on it).
 */
export async function testAccuracyOf(store: RunStore): Promise<number | null> {
  try {
    const manifest = await readManifest(store.runJson);
    if (manifest?.steps.checkpoint?.status !== 'ok') return null;
    return (await store.metrics.read()).test.accuracy;
  } catch {
    return null;
  }
}

/** `report: <path>`, `<step>: <path>` or `failed: [<step>: ]<message>`, on one line. */
export function finalLine(o: RunOutcome): string {
  if (o.error) return `failed: ${o.error.step ? `${o.error.step}: ` : ''}${o.error.message.replace(/\s*\n\s*/g, ' ')}`;
  if (o.output) return `${o.output.step}: ${o.output.path}`;
  return `run ${o.run_id ?? ''}: done`;
}
