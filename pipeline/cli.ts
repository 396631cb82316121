import { availableParallelism } from 'node:os';
import { parseUsage } from './core/args.js';
import { UsageError } from './core/errors.js';
import {
  BACKENDS,
  DEFAULT_DROPOUT,
  DEFAULT_LEARNING_RATE,
  LANGS,
  MAX_THREADS,
  PROFILES,
  PROFILE_DEFAULTS,
  type BackendChoice,
  type Lang,
  type Params,
} from './core/params.js';
import { TRAIN_IMAGES } from './catalog/dataset.js';
import { checkRunId } from './catalog/store.js';
import { STEP_NAMES } from '../steps/index.js';
import { MAP_POINTS_RANGE, QUICK_MAP_POINTS } from '../steps/mistakes.js';

export interface CliOptions {
  help: boolean;
  version: boolean;
  params: Params;
  runId: string;
  artifacts: string;
  steps: string[];
  force: boolean;
  /** stdout is one JSON line (the run's outcome); every other line goes to stderr */
  json: boolean;
  /** only errors and the final line */
  quiet: boolean;
  /** --model: a trained model file to show instead of training (inspected by main before the run) */
  model?: string;
  /** --run was given (an imported model's run id is otherwise derived from its file) */
  runGiven: boolean;
  /** --image: the reader's pictures, in the order given (checked and copied into the run by main); absent: keep the run's */
  images?: string[];
  /** --no-images: remove the run's pictures */
  noImages: boolean;
}

const OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  profile: { type: 'string' },
  run: { type: 'string' },
  artifacts: { type: 'string' },
  only: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  force: { type: 'boolean' },
  seed: { type: 'string' },
  backend: { type: 'string' },
  threads: { type: 'string' },
  'data-dir': { type: 'string' },
  lang: { type: 'string' },
  epochs: { type: 'string' },
  'batch-size': { type: 'string' },
  patience: { type: 'string' },
  'train-size': { type: 'string' },
  'val-size': { type: 'string' },
  dropout: { type: 'string' },
  'learning-rate': { type: 'string' },
  model: { type: 'string' },
  'map-points': { type: 'string' },
  image: { type: 'string', multiple: true },
  'no-images': { type: 'boolean' },
} as const;

/** Every option name of the pipeline, without the dashes (the sweep tells a pipeline option from an unknown one). */
export const PIPELINE_OPTIONS: readonly string[] = Object.keys(OPTIONS);

/** The most --image pictures: each adds 70 to 130 kB of figures to the report, which must stay under 3 MB. */
export const MAX_IMAGES = 5;

/** The options that only training uses: meaningless with --model. */
const TRAINING_OPTIONS = ['profile', 'epochs', 'batch-size', 'patience', 'train-size', 'val-size', 'dropout', 'learning-rate'] as const;

export const HELP = `Usage: npm run pipeline -- [options]

Runs the steps of chapter 8-3 ("visualizing a convolutional network") in order, skipping the
ones whose inputs, parameters and code have not changed since they last succeeded:
  ${STEP_NAMES.join(' -> ')}

Options:
  --profile book|quick     book: the book's settings (default); quick: a small seeded subset
                           of the real data, about a minute on 2 cores, for smoke runs
  --run <id>               run folder name under <artifacts>/runs (default: derived from the
                           profile and overrides, e.g. "book" or "quick-seed7")
  --artifacts <dir>        where runs and the dataset cache live (default ./artifacts)
  --only <step[,step]>     run just these steps
  --from <step>            run from this step on
  --to <step>              run up to this step
  --force                  re-run the selected steps even when up to date
  --seed <n>               seed of the split, shuffle, initializers and dropout (default 42)
  --backend auto|tensorflow|wasm|cpu
                           auto (default): tfjs-node when its binding loads, else wasm
  --threads <n>            training threads, 1 to ${MAX_THREADS}, one per shard of each batch (at
                           most 2 used; default: the cores available, here ${defaultThreads()});
                           the weights are the same for every count
  --data-dir <dir>         a folder with the Fashion-MNIST files (also FASHION_MNIST_DIR)
  --lang en|ko             the report's and figures' language (default en; ko: all of it
                           in Korean, in the book's terms)
  --epochs <n>             most epochs (book 20, quick ${PROFILE_DEFAULTS.quick.epochs})
  --batch-size <n>         (default 32)
  --patience <n>           early-stopping patience in epochs (default 2)
  --train-size <n>         training images (book 48000, quick ${PROFILE_DEFAULTS.quick.trainSize})
  --val-size <n>           validation images (book 12000, quick ${PROFILE_DEFAULTS.quick.valSize})
  --dropout <rate>         the dropout layer's rate, 0 to below 1 (default the book's ${DEFAULT_DROPOUT})
  --learning-rate <lr>     Adam's learning rate, above 0 (default ${DEFAULT_LEARNING_RATE})
  --model <file>           show this trained model instead of training one: a Keras 3 .keras,
                           a Keras 2 .h5 (model.save in Python) or a TensorFlow.js model.json;
                           run id model-<file name>-<first 8 hex of its SHA-256>; no training
                           options with it; the report shows no learning curves
  --map-points <n>         test images the mistakes step predicts and maps: the first n,
                           ${MAP_POINTS_RANGE[0]} to ${MAP_POINTS_RANGE[1]} (default ${MAP_POINTS_RANGE[1]}; quick profile ${QUICK_MAP_POINTS})
  --image <file>           your own picture (PNG or JPEG, repeatable): converted as Fashion-MNIST
                           was made, predicted, its feature maps and Grad-CAM in the report;
                           copied into the run (same run id), kept by later commands without
                           --image; a new --image list replaces the run's pictures
  --no-images              remove the run's pictures
  -h, --help               this help
  --version                cnn-lens's version and those of TensorFlow.js and its backends
  --json                   stdout is one JSON line: run id and folder, status, the steps ran
                           and skipped with seconds, test accuracy, report, error; every other
                           line goes to stderr (use npm run -s to keep npm's banner out)
  -q, --quiet              print only errors and the final line

The last line of a run: "report: <path>"; "<step>: <path>" (the last step's output) when the
run stops before the report (--to, --only); "failed: <step>: <error>" when a step failed.
Exit codes: 0 success, 1 a step failed, 2 bad usage or bad input.`;

function oneOf<T extends string>(option: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new UsageError(`--${option} ${JSON.stringify(value)} is not valid: use one of ${allowed.join(', ')}`);
  }
  return value as T;
}

function integer(option: string, value: string, min: number, max: number): number {
  const n = /^-?\d+$/.test(value.trim()) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`--${option} ${JSON.stringify(value)} is not valid: give a whole number from ${min} to ${max}`);
  }
  return n;
}

/** A plain decimal number (no hex, no blanks, no Infinity) that `ok` accepts. */
function decimal(option: string, value: string, ok: (n: number) => boolean, valid: string): number {
  const n = /^(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(value.trim()) ? Number(value) : NaN;
  if (!Number.isFinite(n) || !ok(n)) throw new UsageError(`--${option} ${JSON.stringify(value)} is not valid: ${valid}`);
  return n;
}

function stepList(option: string, value: string): string[] {
  const names = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (names.length === 0) throw new UsageError(`--${option} needs a step name: ${STEP_NAMES.join(', ')}`);
  return names.map((n) => oneOf(option, n, STEP_NAMES));
}

/** The stable default run id: the profile, then each override given, in a fixed order. */
function defaultRunId(params: Params, given: Overrides): string {
  const parts: [string, string | undefined][] = [
    ['seed', given.seed?.toString()],
    ['epochs', given.epochs?.toString()],
    ['bs', given.batchSize?.toString()],
    ['patience', given.patience?.toString()],
    ['train', given.trainSize?.toString()],
    ['val', given.valSize?.toString()],
    // By value, not by presence: --dropout 0.4 is the run made without the option.
    ['dropout', params.dropout === DEFAULT_DROPOUT ? undefined : String(params.dropout)],
    ['lr', params.learningRate === DEFAULT_LEARNING_RATE ? undefined : String(params.learningRate)],
    ['', params.backend === 'auto' ? undefined : params.backend],
  ];
  return [params.profile, ...parts.filter(([, v]) => v !== undefined).map(([k, v]) => `${k}${v}`)].join('-');
}

/** Training threads when --threads is not given: every core this process may use. */
export function defaultThreads(): number {
  return Math.min(MAX_THREADS, availableParallelism());
}

/** An option's value as given, or undefined. */
type OptionValue = (option: string) => string | undefined;

export function parseCli(argv: string[], env: NodeJS.ProcessEnv = process.env): CliOptions {
  const values = readArgs(argv);
  const str: OptionValue = (k) => values[k] as string | undefined;
  const { params, given } = readParams(str, env);
  const steps = selectSteps(str);
  const model = str('model');
  if (model !== undefined) {
    const training = TRAINING_OPTIONS.filter((o) => str(o) !== undefined);
    if (training.length > 0) {
      throw new UsageError(`--${training.join(', --')} only appl${training.length > 1 ? 'y' : 'ies'} to training, and --model takes a trained model: drop ${training.length > 1 ? 'them' : 'it'}, or drop --model to train`);
    }
    if (model.trim() === '') throw new UsageError('--model needs a file: a .keras, .h5 or model.json');
  }
  const images = values.image as string[] | undefined;
  if (images !== undefined && values['no-images']) throw new UsageError('--image and --no-images contradict each other: give pictures, or remove them');
  if (images?.some((f) => f.trim() === '')) throw new UsageError('--image needs a file: a PNG or JPEG picture');
  if (images && images.length > MAX_IMAGES) throw new UsageError(`--image was given ${images.length} times: at most ${MAX_IMAGES} pictures, each adds its maps to the report`);
  return {
    help: Boolean(values.help),
    version: Boolean(values.version),
    params,
    runId: str('run') !== undefined ? checkRunId(str('run')!) : defaultRunId(params, given),
    artifacts: str('artifacts') ?? 'artifacts',
    steps,
    force: Boolean(values.force),
    json: Boolean(values.json),
    quiet: Boolean(values.quiet),
    ...(model !== undefined ? { model } : {}),
    runGiven: str('run') !== undefined,
    ...(images !== undefined ? { images } : {}),
    noImages: Boolean(values['no-images']),
  };
}

/** The options as parseArgs reads them; anything it rejects, and any positional, is a UsageError. */
function readArgs(argv: string[]): Record<string, string | boolean | string[] | undefined> {
  const { values, positionals } = parseUsage(argv, OPTIONS);
  if (positionals.length > 0) {
    throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}: options start with --; see --help`);
  }
  return values;
}

/** The numeric options given on the command line (undefined: take the profile's). */
type Overrides = Partial<Pick<Params, 'seed' | 'epochs' | 'batchSize' | 'patience' | 'trainSize' | 'valSize'>>;

/** The run's params: the profile's defaults under the options given; `given` holds the overrides alone. */
function readParams(str: OptionValue, env: NodeJS.ProcessEnv): { params: Params; given: Overrides } {
  const profile = oneOf('profile', str('profile') ?? 'book', PROFILES);
  const defaults = PROFILE_DEFAULTS[profile];
  const backend = oneOf<BackendChoice>('backend', str('backend') ?? 'auto', BACKENDS);
  const lang = oneOf<Lang>('lang', str('lang') ?? 'en', LANGS);
  const int = (option: string, min: number, max: number) => (str(option) === undefined ? undefined : integer(option, str(option)!, min, max));
  const given = {
    seed: int('seed', 0, 2 ** 31 - 1),
    epochs: int('epochs', 1, 1000),
    batchSize: int('batch-size', 1, 4096),
    patience: int('patience', 0, 1000),
    trainSize: int('train-size', 1, TRAIN_IMAGES - 1),
    valSize: int('val-size', 1, TRAIN_IMAGES - 1),
  };
  const params: Params = {
    profile,
    seed: given.seed ?? defaults.seed,
    epochs: given.epochs ?? defaults.epochs,
    batchSize: given.batchSize ?? defaults.batchSize,
    patience: given.patience ?? defaults.patience,
    trainSize: given.trainSize ?? defaults.trainSize,
    valSize: given.valSize ?? defaults.valSize,
    backend,
    threads: str('threads') === undefined ? defaultThreads() : integer('threads', str('threads')!, 1, MAX_THREADS),
    lang,
    ...(str('map-points') === undefined ? {} : { mapPoints: integer('map-points', str('map-points')!, ...MAP_POINTS_RANGE) }),
    dropout: str('dropout') === undefined ? DEFAULT_DROPOUT : decimal('dropout', str('dropout')!, (r) => r < 1, `give a rate from 0 up to (not including) 1, e.g. 0.3 (default ${DEFAULT_DROPOUT})`),
    learningRate:
      str('learning-rate') === undefined ? DEFAULT_LEARNING_RATE : decimal('learning-rate', str('learning-rate')!, (r) => r > 0, `give a number above 0, e.g. 0.0005 (default ${DEFAULT_LEARNING_RATE})`),
  };
  const dataDir = str('data-dir') ?? env.FASHION_MNIST_DIR;
  if (dataDir) params.dataDir = dataDir;
  checkSizes(params);
  return { params, given };
}

/** Sizes that each pass their own bounds but not together. */
function checkSizes(params: Params): void {
  if (params.trainSize + params.valSize > TRAIN_IMAGES) {
    throw new UsageError(
      `--train-size ${params.trainSize} + --val-size ${params.valSize} exceeds the ${TRAIN_IMAGES} training images: make them add up to at most ${TRAIN_IMAGES}`,
    );
  }
  if (params.batchSize > params.trainSize) {
    throw new UsageError(`--batch-size ${params.batchSize} is larger than --train-size ${params.trainSize}: use a smaller batch`);
  }
}

/** The steps to run, in pipeline order: all, --only's, or the range --from..--to. */
function selectSteps(str: OptionValue): string[] {
  const only = str('only');
  if (only !== undefined && (str('from') !== undefined || str('to') !== undefined)) {
    throw new UsageError('--only cannot be combined with --from/--to: use one or the other');
  }
  if (only !== undefined) {
    const wanted = new Set(stepList('only', only));
    return STEP_NAMES.filter((s) => wanted.has(s));
  }
  const from = str('from') === undefined ? 0 : STEP_NAMES.indexOf(stepList('from', str('from')!)[0]);
  const to = str('to') === undefined ? STEP_NAMES.length - 1 : STEP_NAMES.indexOf(stepList('to', str('to')!)[0]);
  if (from > to) throw new UsageError(`--from ${STEP_NAMES[from]} comes after --to ${STEP_NAMES[to]}: steps run in the order ${STEP_NAMES.join(', ')}`);
  return STEP_NAMES.slice(from, to + 1);
}
