/**
 * The runs of a sweep: the cross product of the seeds and the grid, each run's pipeline options, and
 * its run id as the pipeline derives it (the caller passes the pipeline's own parser in, so that the
 * ids here are the folders the runs write, on this machine or on a CI runner).
 */
import { BadInputError, UsageError } from '../core/errors.js';
import { sha256 } from '../core/hash.js';
import { checkRunId } from '../catalog/store.js';
import type { SweepOptions } from './cli.js';

export interface SweepRun {
  /** the run id the pipeline derives from `args` */
  id: string;
  /** this run's pipeline options: the sweep's pipeline options, --seed, then one per grid axis */
  args: string[];
  /** the seed and grid values, for the lines the sweep prints */
  point: { option: string; value: string }[];
}

/** The pipeline's run id for these options; throws a UsageError naming the option when one is bad. */
export type RunIdOf = (args: string[]) => string;

/** GitHub Actions runs at most 256 jobs of one matrix. */
export const MAX_MATRIX_RUNS = 256;

/** Every combination of the axes' values, the first axis varying slowest. */
function product(axes: { option: string; values: string[] }[]): { option: string; value: string }[][] {
  return axes.reduce<{ option: string; value: string }[][]>((combos, axis) => combos.flatMap((c) => axis.values.map((value) => [...c, { option: axis.option, value }])), [[]]);
}

/** A bad value names where it came from: the options for every run, or the --grid value. */
function checked(runIdOf: RunIdOf, args: string[], where: string): string {
  try {
    return runIdOf(args);
  } catch (err) {
    if (err instanceof BadInputError) throw new UsageError(`${where}: ${err.message}`);
    throw err;
  }
}

/** The runs, grid points outside and seeds inside; refuses bad values and two points with one run id. */
export function planSweep(o: SweepOptions, runIdOf: RunIdOf): SweepRun[] {
  checked(runIdOf, o.pipelineArgs, 'the pipeline options of every run');
  for (const axis of o.grid) {
    for (const value of axis.values) checked(runIdOf, [...o.pipelineArgs, `--${axis.option}`, value], `--grid ${axis.option}=${value}`);
  }
  const runs: SweepRun[] = [];
  const seen = new Map<string, SweepRun>();
  for (const combo of product(o.grid)) {
    for (const seed of o.seeds) {
      const point = [{ option: 'seed', value: String(seed) }, ...combo];
      const args = [...o.pipelineArgs, ...point.flatMap((p) => [`--${p.option}`, p.value])];
      const run: SweepRun = { id: checked(runIdOf, args, `the run ${pointText(point)}`), args, point };
      const earlier = seen.get(run.id);
      if (earlier) {
        throw new UsageError(`the runs ${pointText(earlier.point)} and ${pointText(point)} are the same run (${run.id}): give each grid value once (0.4 and 0.40 are one value)`);
      }
      seen.set(run.id, run);
      runs.push(run);
    }
  }
  return runs;
}

/** "seed=3 dropout=0.3" */
export function pointText(point: SweepRun['point']): string {
  return point.map((p) => `${p.option}=${p.value}`).join(' ');
}

/**
 * What the run job of the workflow splits on spaces (.github/workflows/sweep.yml): values with
 * blanks, quotes or shell patterns would not come back as they went in.
 */
const MATRIX_TOKEN = /^[A-Za-z0-9._,:=/+-]+$/;

/** `{"include": [{"run": "<run id>", "args": "<pipeline options>"}, ...]}`: a GitHub Actions matrix. */
export function matrixOf(runs: SweepRun[]): { include: { run: string; args: string }[] } {
  if (runs.length > MAX_MATRIX_RUNS) {
    throw new UsageError(`--print-matrix: ${runs.length} runs, and GitHub Actions runs at most ${MAX_MATRIX_RUNS} jobs of one matrix: split the seeds over several sweeps`);
  }
  for (const token of runs.flatMap((r) => r.args)) {
    if (!MATRIX_TOKEN.test(token)) {
      throw new UsageError(`--print-matrix: ${JSON.stringify(token)} has a blank, quote or other character that the workflow's run job would not pass on intact (it splits "args" on spaces): use letters, digits and . _ , : = / + - only`);
    }
  }
  return { include: runs.map((r) => ({ run: r.id, args: r.args.join(' ') })) };
}

/**
 * The default name of the sweep's comparison and logs: the seeds and the grid, readable, and 8 hex
 * of the run ids, so that the same sweep finds its folder again and one with other options (another
 * --train-size) gets its own.
 */
export function defaultSweepName(o: SweepOptions, runs: SweepRun[]): string {
  const readable = ['sweep', `seeds${o.seedsSpec.replace(/,/g, '_')}`, ...o.grid.map((a) => `${a.option}${a.values.join('_')}`)].join('-').replace(/[^A-Za-z0-9._-]/g, '_');
  const hash = sha256(runs.map((r) => r.id).join('\n')).slice(0, 8);
  return `${readable.slice(0, 90)}-${hash}`;
}

/** --name as given, refused as a run id would be (it names folders). */
export function sweepName(o: SweepOptions, runs: SweepRun[]): string {
  if (o.name === undefined) return defaultSweepName(o, runs);
  try {
    return checkRunId(o.name);
  } catch (err) {
    throw new UsageError(`--name ${JSON.stringify(o.name)}: ${(err as Error).message}`);
  }
}
