/**
 * `npm run sweep -- --seeds <list> [--grid <option>=<v1,v2>]... [options] [pipeline options]`: the
 * command line. The sweep's own options are taken out; every other token is a pipeline option given
 * to every run, checked by the pipeline's own parser when the runs are planned (plan.ts).
 */
import { availableParallelism } from 'node:os';
import { UsageError } from '../core/errors.js';
import { MAX_THREADS } from '../core/params.js';

/** One axis of the grid: a pipeline option and the values it takes, in the order given. */
export interface GridAxis {
  option: string;
  values: string[];
}

export interface SweepOptions {
  help: boolean;
  seeds: number[];
  /** as given, for the sweep's name */
  seedsSpec: string;
  grid: GridAxis[];
  jobs: number;
  printMatrix: boolean;
  /** undefined: derived from the seeds, the grid and the run ids (plan.ts) */
  name?: string;
  /** where the runs, their logs and the comparison go; passed to every run */
  artifacts: string;
  /** the pipeline options given for every run, in order, as given */
  pipelineArgs: string[];
}

/** The pipeline options a grid may vary: what decides the weights (the seed has --seeds). */
export const SWEEPABLE = ['dropout', 'learning-rate', 'epochs', 'batch-size', 'patience', 'train-size', 'val-size'] as const;

/** Pipeline options a sweep decides for each run, and why they cannot be given. */
const DECIDED: Record<string, string> = {
  seed: 'give the seeds with --seeds (e.g. --seeds 1-8)',
  run: "each run's id is derived from its options, so that the same sweep finds its runs again",
  model: 'a sweep trains its runs; --model shows one trained model (npm run pipeline -- --model <file>)',
  json: "the sweep reads each run's outcome itself",
  version: 'npm run pipeline -- --version prints the versions',
};

/** The most seeds a sweep takes: more is a typo (1-10000) rather than a plan. */
const MAX_SEEDS = 1000;
const MAX_SEED = 2 ** 31 - 1;

export const SWEEP_HELP = `Usage: npm run sweep -- --seeds <list> [--grid <option>=<v1,v2,...>]... [options] [pipeline options]

Runs the pipeline once per seed and grid point (the cross product), each an ordinary run in its
own folder <artifacts>/runs/<run id> (the id the pipeline derives from the run's options, e.g.
quick-seed3-dropout0.3), then gathers the runs that finished with npm run compare. Finished runs
are skipped as the pipeline skips them, so the same sweep again takes seconds and an interrupted
one resumes. A failed run is reported (its exit code, the end of its log) and the others go on.

Options:
  --seeds <list>           seeds: 1-8, 1,3,5 or 1-3,7 (required)
  --grid <option>=<values> a pipeline option and its values, e.g. dropout=0.3,0.4; repeatable
                           (one per option); options: ${SWEEPABLE.slice(0, 4).join(', ')},
                           ${SWEEPABLE.slice(4).join(', ')}
  --jobs <n>               runs at a time (default 1: training uses every core); with more, each gets
                           --threads max(1, floor(cores / jobs)) (cores here: ${availableParallelism()})
  --print-matrix           print the runs as a GitHub Actions matrix and run nothing:
                           {"include": [{"run": "<run id>", "args": "<pipeline options>"}, ...]}
  --name <name>            the comparison's folder under <artifacts>/compares and the logs' under
                           <artifacts>/sweeps (default: from the seeds, the grid and the run ids)
  --artifacts <dir>        where runs, logs and the comparison go (default ./artifacts)
  -h, --help               this help

Any other option is a pipeline option given to every run (npm run pipeline -- --help), e.g.
--profile quick, --train-size 2048, --backend wasm, --to feature-maps (the last step compare
reads). Not --seed, --run, --model or --json: the sweep decides those.

One line per run as it finishes, then the comparison's and a summary line. Each run's log is
<artifacts>/sweeps/<name>/logs/<run id>.log.
Exit codes: 0 every run finished and the comparison was written; 1 a run failed (after the
others finished and were compared) or the comparison failed; 2 bad usage.`;

/** "1-8", "1,3,5", "1-3,7": the seeds in the order given; a seed listed twice is a mistake. */
export function parseSeeds(spec: string): number[] {
  const bad = (why: string) => new UsageError(`--seeds ${JSON.stringify(spec)} is not valid: ${why}; give seeds like 1-8, 1,3,5 or 1-3,7 (whole numbers from 0 to ${MAX_SEED})`);
  const seeds: number[] = [];
  for (const part of spec.split(',')) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (!m) throw bad(part.trim() === '' ? 'an empty item' : `${JSON.stringify(part.trim())} is not a seed or a range`);
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (from > MAX_SEED || to > MAX_SEED) throw bad(`${part.trim()} is beyond ${MAX_SEED}`);
    if (to < from) throw bad(`the range ${part.trim()} runs backwards`);
    if (seeds.length + (to - from + 1) > MAX_SEEDS) throw bad(`more than ${MAX_SEEDS} seeds`);
    for (let s = from; s <= to; s++) {
      if (seeds.includes(s)) throw bad(`seed ${s} is listed twice`);
      seeds.push(s);
    }
  }
  return seeds;
}

/** `dropout=0.3,0.4` */
function parseGrid(text: string, pipelineOptions: readonly string[]): GridAxis {
  const m = /^([a-z][a-z-]*)=(.*)$/.exec(text.trim());
  if (!m) throw new UsageError(`--grid ${JSON.stringify(text)} is not valid: give <option>=<v1,v2,...>, e.g. --grid dropout=0.3,0.4`);
  const [, option, list] = m;
  if (!(SWEEPABLE as readonly string[]).includes(option)) {
    const what = option === 'seed' ? 'the seeds have their own option, --seeds' : pipelineOptions.includes(option) ? `--${option} is the same for every run: give it once, as a pipeline option` : 'it is no pipeline option';
    throw new UsageError(`--grid ${option}: ${option === 'seed' || pipelineOptions.includes(option) ? 'not an option a sweep varies' : 'unknown grid key'} (${what}); a grid varies one of ${SWEEPABLE.join(', ')}`);
  }
  const values = list.split(',').map((v) => v.trim());
  if (values.some((v) => v === '')) throw new UsageError(`--grid ${text}: an empty value; give the values separated by commas, e.g. ${option}=0.3,0.4`);
  const twice = values.find((v, i) => values.indexOf(v) !== i);
  if (twice !== undefined) throw new UsageError(`--grid ${text}: ${twice} is listed twice`);
  return { option, values };
}

function jobsOf(value: string): number {
  const n = /^\d+$/.test(value.trim()) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > 64) throw new UsageError(`--jobs ${JSON.stringify(value)} is not valid: give a whole number from 1 to 64 (runs at a time)`);
  return n;
}

/** `--x v` or `--x=v`: the option's name and value, and how many tokens it took. */
function valueOf(argv: string[], i: number): { value: string; used: number } {
  const token = argv[i];
  const eq = token.indexOf('=');
  if (eq > 0) return { value: token.slice(eq + 1), used: 1 };
  const value = argv[i + 1];
  if (value === undefined || value.startsWith('--')) throw new UsageError(`${token} needs a value; see --help`);
  return { value, used: 2 };
}

/**
 * The sweep's options out of argv; everything else, in order, is the pipeline's. `pipelineOptions`:
 * the pipeline's option names (pipeline/cli.ts), to tell a pipeline option from an unknown one.
 */
export function parseSweepCli(argv: string[], pipelineOptions: readonly string[]): SweepOptions {
  const o: SweepOptions = { help: false, seeds: [], seedsSpec: '', grid: [], jobs: 1, printMatrix: false, artifacts: 'artifacts', pipelineArgs: [] };
  let seedsGiven = false;
  for (let i = 0; i < argv.length; ) {
    const token = argv[i];
    const name = token.startsWith('--') ? token.slice(2).split('=')[0] : undefined;
    if (token === '-h' || token === '--help') {
      o.help = true;
      i += 1;
    } else if (name === 'print-matrix') {
      if (token.includes('=')) throw new UsageError('--print-matrix takes no value');
      o.printMatrix = true;
      i += 1;
    } else if (name === 'seeds' || name === 'grid' || name === 'jobs' || name === 'name' || name === 'artifacts') {
      const { value, used } = valueOf(argv, i);
      if (name === 'seeds') {
        if (seedsGiven) throw new UsageError('--seeds is given twice: give one list, e.g. --seeds 1-3,7');
        o.seeds = parseSeeds(value);
        o.seedsSpec = value.replace(/\s+/g, '');
        seedsGiven = true;
      } else if (name === 'grid') {
        const axis = parseGrid(value, pipelineOptions);
        if (o.grid.some((a) => a.option === axis.option)) throw new UsageError(`--grid ${axis.option} is given twice: give its values in one list, e.g. ${axis.option}=0.3,0.4`);
        o.grid.push(axis);
      } else if (name === 'jobs') o.jobs = jobsOf(value);
      else if (name === 'name') o.name = value;
      else o.artifacts = value;
      i += used;
    } else {
      if (name !== undefined && DECIDED[name]) throw new UsageError(`--${name} cannot be given to a sweep: ${DECIDED[name]}`);
      if (name !== undefined && !pipelineOptions.includes(name)) throw new UsageError(`unknown option '--${name}': neither a sweep option nor a pipeline option`);
      o.pipelineArgs.push(token);
      i += 1;
    }
  }
  if (o.help) return o;
  if (!seedsGiven) throw new UsageError('--seeds is required: e.g. --seeds 1-8');
  const twice = o.grid.find((a) => o.pipelineArgs.some((t) => t === `--${a.option}` || t.startsWith(`--${a.option}=`)));
  if (twice) throw new UsageError(`--${twice.option} is given both as a pipeline option and in --grid: give it in one place`);
  return o;
}

/** Each run's wasm threads when `jobs` run at once: the cores shared out, at least 1. */
export function threadsPerRun(jobs: number, cores = availableParallelism()): number {
  return Math.min(MAX_THREADS, Math.max(1, Math.floor(cores / jobs)));
}
