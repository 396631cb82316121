/**
 * `npm run sweep -- --seeds <list> [--grid <option>=<values>]... [options]`: see --help
 * (pipeline/sweep/cli.ts). Wires the sweep to the pipeline's own parser (the run ids), the pipeline's
 * CLI (each run) and compare (the gathering).
 */
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCli, PIPELINE_OPTIONS } from './cli.js';
import { exitCodeOf, messageOf } from './core/errors.js';
import { runMain } from './core/run-main.js';
import { parseSweepCli, SWEEP_HELP, threadsPerRun } from './sweep/cli.js';
import { matrixOf, planSweep, sweepName } from './sweep/plan.js';
import { failureDetail, planLine, runLine, succeeded, summaryLine } from './sweep/report.js';
import { logTail, runSweep, type RunResult } from './sweep/run.js';

const PIPELINE_SCRIPT = fileURLToPath(new URL('./main.ts', import.meta.url));

/** The run id `npm run pipeline -- <args>` takes: the pipeline's own derivation, and its checks. */
const runIdOf = (args: string[]): string => parseCli(args).runId;

async function main(argv: string[]): Promise<number> {
  const o = parseSweepCli(argv, PIPELINE_OPTIONS);
  if (o.help) {
    process.stdout.write(`${SWEEP_HELP}\n`);
    return 0;
  }
  const runs = planSweep(o, runIdOf);
  if (o.printMatrix) {
    process.stdout.write(`${JSON.stringify(matrixOf(runs))}\n`);
    return 0;
  }
  const name = sweepName(o, runs);
  const artifacts = resolve(o.artifacts);
  const logDir = join(artifacts, 'sweeps', name, 'logs');
  const ownThreads = o.pipelineArgs.some((t) => t === '--threads' || t.startsWith('--threads='));
  const threads = o.jobs > 1 && !ownThreads ? threadsPerRun(o.jobs) : undefined;
  const started = performance.now();
  const say = (line: string) => process.stdout.write(`${line}\n`);

  say(planLine(runs, o.jobs, threads, logDir));
  let ended = 0;
  const results = await runSweep(runs, {
    script: PIPELINE_SCRIPT,
    artifacts,
    jobs: o.jobs,
    threads,
    logDir,
    onEnd: (r) => say(runLine(r, ++ended, runs.length)),
  });
  const failed = results.filter((r) => !succeeded(r));
  for (const r of failed) process.stderr.write(`${failureDetail(r, await logTail(r.log))}\n`);

  const { code, note } = await gather(results, { artifacts, name, groupBy: o.grid.map((a) => a.option) });
  say(summaryLine(results, (performance.now() - started) / 1000, note));
  return failed.length > 0 || code !== 0 ? 1 : 0;
}

/** compare over the runs that finished (two at least), grouped by the grid's options. */
async function gather(results: RunResult[], o: { artifacts: string; name: string; groupBy: string[] }): Promise<{ code: number; note: string }> {
  const finished = results.filter(succeeded).map((r) => r.run.id);
  if (finished.length < 2) return { code: 0, note: `not compared: ${finished.length} run${finished.length === 1 ? '' : 's'} finished, compare needs two` };
  const args = [...finished, '--artifacts', o.artifacts, '--name', o.name, ...o.groupBy.flatMap((g) => ['--group-by', g])];
  process.stdout.write(`sweep: npm run compare -- ${args.join(' ')}\n`);
  const out = join(o.artifacts, 'compares', o.name);
  try {
    // Loaded only to gather: --print-matrix and bad usage answer without vega and the page's code.
    const { compareMain } = await import('./compare/main.js');
    const code = await compareMain(args);
    return { code, note: code === 0 ? `compared in ${join(out, 'compare.html')}` : `compare exited ${code}; ${join(out, 'compare.html')}` };
  } catch (err) {
    process.stderr.write(`error: compare: ${messageOf(err)}\n`);
    return { code: exitCodeOf(err), note: `compare failed (exit ${exitCodeOf(err)}): ${messageOf(err)}` };
  }
}

runMain(main, 'Run `npm run sweep -- --help` for the options.');
