/** `npm run runs -- [options]`: the runs under --artifacts, and pruning their training state; see --help. */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseUsage } from './core/args.js';
import { BadInputError, messageOf, UsageError } from './core/errors.js';
import { runMain } from './core/run-main.js';
import { checkRunId, RunStore } from './catalog/store.js';
import { describeRun, formatBytes, formatRuns, listRuns, type RunInfo } from './runs-list.js';
import { pruneRun, type Pruned } from './runs-prune.js';

export const RUNS_HELP = `Usage: npm run runs -- [--artifacts <dir>] [--json]
       npm run runs -- --prune [<run id>...] [--artifacts <dir>] [--json]

Lists the runs under <artifacts>/runs, one line each: id, status, profile (or "model <file>" for
a run made with --model), test accuracy, age (since run.json was last written) and size on disk.
Status: finished (every step succeeded), partial (steps not done yet, or interrupted), failed (a
step failed: which, and why), running (a live process holds its lock), unreadable (its run.json).

--prune deletes the per-epoch training state (train/state/ and train/state.previous/, most of a
run's size) of the runs named, or of every finished run when none is named, and prints what it
freed. It never touches a run that is not finished or that a pipeline is writing (it takes the
run's lock), and a pruned run's next \`npm run pipeline\` still skips every step; only a change
that re-runs train (its params, data or code, --force) then trains from scratch.

Options:
  --artifacts <dir>   where the runs are (default ./artifacts)
  --prune             prune the training state (above)
  --json              stdout is JSON: the list as an array; with --prune, what was pruned and kept
  -h, --help          this help

Exit codes: 0 done; 2 bad usage, or a named run that does not exist or cannot be pruned (nothing
is pruned then).`;

const OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  artifacts: { type: 'string' },
  prune: { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

interface RunsOptions {
  help: boolean;
  artifacts: string;
  prune: boolean;
  json: boolean;
  ids: string[];
}

function parseRunsCli(argv: string[]): RunsOptions {
  const { values, positionals } = parseUsage(argv, OPTIONS);
  if (positionals.length > 0 && !values.prune) {
    throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}: run ids go after --prune (npm run runs -- --prune <id>...)`);
  }
  return {
    help: Boolean(values.help),
    artifacts: values.artifacts ?? 'artifacts',
    prune: Boolean(values.prune),
    json: Boolean(values.json),
    ids: positionals.map(checkRunId),
  };
}

/** The named runs, each checked before any is pruned: all of them can be pruned, or none is. */
async function namedRuns(artifacts: string, ids: string[]): Promise<RunInfo[]> {
  const runs: RunInfo[] = [];
  for (const id of ids) {
    const store = new RunStore(artifacts, id);
    if (!existsSync(store.runDir)) throw new BadInputError(`no run ${id} in ${join(store.artifacts, 'runs')}: npm run runs -- --artifacts ${artifacts} lists the runs there`);
    const info = await describeRun(store);
    if (info.status !== 'finished') {
      throw new BadInputError(`run ${id} is ${info.status}${info.note ? ` (${info.note})` : ''}: only a finished run's training state is pruned; nothing was pruned`);
    }
    runs.push(info);
  }
  return runs;
}

async function prune(cli: RunsOptions, out: (line: string) => void): Promise<void> {
  const runs = cli.ids.length > 0 ? await namedRuns(cli.artifacts, cli.ids) : await listRuns(cli.artifacts);
  const pruned: Pruned[] = [];
  const kept: { id: string; status: string; reason: string }[] = [];
  for (const run of runs) {
    if (run.status !== 'finished') {
      kept.push({ id: run.id, status: run.status, reason: run.note ?? '' });
      if (!cli.json) out(`kept ${run.id}: ${run.status}${run.note ? ` (${run.note})` : ''}`);
      continue;
    }
    try {
      const p = await pruneRun(new RunStore(cli.artifacts, run.id));
      pruned.push(p);
      if (!cli.json) out(p.removed.length > 0 ? `pruned ${p.id}: freed ${formatBytes(p.freed)} (${p.removed.join(', ')})` : `pruned ${p.id}: no training state to free`);
    } catch (err) {
      // Between the listing and the lock, a pipeline may have started on it: kept, and said why.
      if (!(err instanceof BadInputError)) throw err;
      kept.push({ id: run.id, status: run.status, reason: messageOf(err) });
      if (!cli.json) out(`kept ${run.id}: ${messageOf(err)}`);
    }
  }
  const freed = pruned.reduce((sum, p) => sum + p.freed, 0);
  if (cli.json) out(JSON.stringify({ pruned, kept, freed }));
  else out(`freed ${formatBytes(freed)} in ${pruned.length} run(s)`);
}

async function main(argv: string[]): Promise<number> {
  const cli = parseRunsCli(argv);
  const out = (line: string) => void process.stdout.write(`${line}\n`);
  if (cli.help) {
    out(RUNS_HELP);
    return 0;
  }
  if (cli.prune) {
    await prune(cli, out);
    return 0;
  }
  const runs = await listRuns(cli.artifacts);
  if (cli.json) out(JSON.stringify(runs));
  else if (runs.length === 0) out(`no runs in ${join(resolve(cli.artifacts), 'runs')}`);
  else formatRuns(runs).forEach(out);
  return 0;
}

runMain(main, 'Run `npm run runs -- --help` for the options.');
