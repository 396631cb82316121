/**
 * `npm run bench`: training and inference throughput of the book's CNN on each backend, and the
 * wall time of the figures and report steps on a finished run (a budget the tests no longer race).
 *
 * Every backend runs in a child process of its own: initTf takes one backend per process (a
 * second would share the engine's registry and state), a backend that fails to load cannot take
 * the others down, and each measurement starts from a fresh heap and JIT, so that the order of the
 * backends does not colour the numbers.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, rm, stat } from 'node:fs/promises';
import { loadavg, availableParallelism, tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseUsage } from './core/args.js';
import { IMAGE_SHAPE, loadFashionMnist, PIXELS } from './catalog/dataset.js';
import { UsageError } from './core/errors.js';
import { MAX_THREADS } from './core/params.js';
import { PROJECT_ROOT, readManifest } from './core/manifest.js';
import { adam } from './ml/adam.js';
import { buildModel } from './ml/model.js';
import { createTrainer } from './ml/parallel-trainer.js';
import { runPytorchPeer, type PeerRow, type PeerSkipped } from './ml/pytorch-peer.js';
import { DEBIAN_DATASET_DIR } from './data/sources/apt.js';
import { gatherImages, gatherLabels, permutation } from './data/split.js';
import { tf } from './tfjs/tf.js';
import { initTf } from './tfjs/backend.js';
import { kernelCounts, resetKernelCounts, type KernelCounts } from './tfjs/kernel-counters.js';
import { SHARDS } from './ml/trainer.js';
import { STEP_NAMES } from '../steps/index.js';

const BACKENDS = ['wasm', 'tensorflow', 'cpu'] as const;
type Backend = (typeof BACKENDS)[number];

/** The pure-JS cpu backend trains at a few samples per second: it gets a token run. */
const CPU_SAMPLES = 64;
/**
 * Untimed steps first (PyTorch's too): a worker thread's own engine warms up over its first tens of
 * steps (2 threads measured 1,053-1,146 samples/s after 5, 1,262-1,319 after 50, side by side),
 * while the pipeline trains 1,500 steps an epoch. --warmup sets another count.
 */
const WARMUP_STEPS = 50;
const PREDICT_BATCH = 256;
const SEED = 42;
/** Set in a child process: the backend it measures (and the options, as JSON). */
const CHILD_ENV = 'CNN_LENS_BENCH_CHILD';
const ROWS = ['train', 'render'] as const;
const PEERS = ['pytorch'] as const;
/** PyTorch's threads beside wasm's: every core of the 2-core machines the targets were set on. */
const PEER_THREADS = 2;
type Row = (typeof ROWS)[number];
/** figures + report of the book's run on 2 cores; the report tests asserted it until it flaked on busy machines */
const RENDER_BUDGET_S = 10;
/** Where a finished run is looked for when --render-run is not given, in this order. */
const RENDER_RUNS = ['book', 'quick'].map((id) => join(PROJECT_ROOT, 'artifacts', 'runs', id));

const USAGE = `Usage: npm run bench -- [options]

Trains the book's CNN (Adam, batch 32) and runs inference on each backend, each in a child
process, on real Fashion-MNIST images when they are found (else random data, and it says so).

Options:
  --samples <n>         training samples timed after the warm-up (default 2048; cpu: ${CPU_SAMPLES})
  --warmup <steps>      untimed training steps first, every row and the peer's (default ${WARMUP_STEPS};
                        cpu: 1); V8 still optimizes the trainer's code hundreds of steps in
  --batch-size <n>      training batch size (default 32)
  --backends <list>     comma list of ${BACKENDS.join(', ')} (default: all; tensorflow is
                        skipped, with the reason, where @tensorflow/tfjs-node does not load)
  --threads <list>      wasm only: comma list of training thread counts, one row each (default
                        1,2; at most ${MAX_THREADS}); each row runs the pipeline's trainer
                        (parallel-trainer.ts), whose batches have ${SHARDS} shards: more than ${SHARDS}
                        threads train with ${SHARDS}, one per shard (the row's workers says so)
  --workers <list>      the same as --threads (its older name)
  --peer pytorch        also train the same model in PyTorch with ${PEER_THREADS} threads (Debian's
                        python3-torch under /usr/bin/python3; skipped, saying so, when absent),
                        interleaved with the other rows, and print the ratios; with a 1-thread
                        wasm row, PyTorch with 1 thread too: its own scaling beside wasm's
  --rounds <n>          run every training row n times, interleaved, and report medians
                        (default 1; 3 with --peer)
  --rows <list>         comma list of what to measure (default: all): train (training and
                        inference per backend), render (the figures and report steps' wall time
                        on a copy of a finished run, against a budget of ${RENDER_BUDGET_S} s)
  --render-run <dir>    the finished run folder for render (default: artifacts/runs/book, else
                        artifacts/runs/quick; the row is skipped, saying why, when there is none)
  --json                print one JSON object with every number as the last line
  -h, --help            this text
`;

interface Options {
  samples: number;
  warmup: number;
  batchSize: number;
  backends: Backend[];
  threads: number[];
  peer?: (typeof PEERS)[number];
  rounds: number;
  rows: Row[];
  renderRun?: string;
  json: boolean;
}

export interface TrainRow {
  backend: Backend;
  /** the training threads the trainer really had (at most SHARDS; 1 off wasm) */
  workers: number;
  batch_size: number;
  /** untimed steps before the timed ones */
  warmup_steps: number;
  samples: number;
  seconds: number;
  /** the median over the rounds */
  samples_per_s: number;
  /** samples/s of each round, in order */
  rounds: number[];
}

/** One training row to measure: a backend with the threads asked for. */
interface Job {
  backend: Backend;
  threads: number;
}

export interface PredictRow {
  backend: Backend;
  /** always 1: inference runs on the main thread, with wasm single-threaded */
  workers: number;
  batch_size: number;
  samples: number;
  seconds: number;
  samples_per_s: number;
}

export interface RenderRow {
  /** the finished run whose artifacts were drawn (a copy of it, so the run itself is untouched) */
  run: string;
  figures_s: number;
  report_s: number;
  seconds: number;
  budget_s: number;
  report_bytes: number;
}

interface ChildResult {
  backend: Backend;
  data: string;
  train?: TrainRow;
  predict?: PredictRow;
  /** wasm with 1 training thread: which way the project's kernels went in the timed steps */
  kernels?: KernelCounts;
  skipped?: string;
}

function parseOptions(argv: string[]): Options | 'help' {
  const { values } = parseUsage(
    argv,
    {
      samples: { type: 'string' },
      warmup: { type: 'string' },
      'batch-size': { type: 'string' },
      backends: { type: 'string' },
      threads: { type: 'string' },
      workers: { type: 'string' },
      peer: { type: 'string' },
      rounds: { type: 'string' },
      rows: { type: 'string' },
      'render-run': { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    false,
  );
  if (values.help) return 'help';
  const positive = (name: string, raw: string | undefined, fallback: number): number => {
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a whole number of at least 1, got '${raw}'`);
    return n;
  };
  const backends = (values.backends ?? BACKENDS.join(',')).split(',').map((s) => s.trim());
  for (const b of backends) {
    if (!(BACKENDS as readonly string[]).includes(b)) {
      throw new UsageError(`--backends: unknown backend '${b}' (choose from ${BACKENDS.join(', ')})`);
    }
  }
  if (values.threads !== undefined && values.workers !== undefined) throw new UsageError('--workers is the older name of --threads: give one of them');
  const threadsName = values.workers !== undefined ? 'workers' : 'threads';
  const threads = (values.threads ?? values.workers ?? '1,2').split(',').map((w) => positive(threadsName, w.trim(), 1));
  const batchSize = positive('batch-size', values['batch-size'], 32);
  const tooManyThreads = threads.find((t) => t > MAX_THREADS);
  if (tooManyThreads) throw new UsageError(`--${threadsName} ${tooManyThreads} is more than ${MAX_THREADS}, the most the pipeline's --threads takes`);
  if (values.peer !== undefined && !(PEERS as readonly string[]).includes(values.peer)) {
    throw new UsageError(`--peer: unknown peer '${values.peer}' (choose from ${PEERS.join(', ')})`);
  }
  const rows = (values.rows ?? ROWS.join(',')).split(',').map((s) => s.trim());
  for (const r of rows) {
    if (!(ROWS as readonly string[]).includes(r)) throw new UsageError(`--rows: unknown row '${r}' (choose from ${ROWS.join(', ')})`);
  }
  return {
    samples: positive('samples', values.samples, 2048),
    warmup: positive('warmup', values.warmup, WARMUP_STEPS),
    batchSize,
    backends: [...new Set(backends)] as Backend[],
    threads: [...new Set(threads)],
    ...(values.peer !== undefined && { peer: values.peer as (typeof PEERS)[number] }),
    rounds: positive('rounds', values.rounds, values.peer !== undefined ? 3 : 1),
    rows: [...new Set(rows)] as Row[],
    ...(values['render-run'] !== undefined && { renderRun: resolve(values['render-run']) }),
    json: values.json ?? false,
  };
}

// ---------------------------------------------------------------- child: one backend

interface Data {
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
  /** what the numbers were measured on, for the output */
  description: string;
}

/** Fashion-MNIST's 60,000 training images from the run cache or Debian's package, else random. */
async function loadData(): Promise<Data> {
  const dirs = [process.env.FASHION_MNIST_DIR, join(PROJECT_ROOT, 'artifacts', 'data', 'fashion-mnist'), DEBIAN_DATASET_DIR];
  const failures: string[] = [];
  for (const dir of dirs) {
    if (!dir) continue;
    try {
      const { train } = await loadFashionMnist(dir);
      return { ...train, description: `Fashion-MNIST training images from ${dir}` };
    } catch (err) {
      failures.push((err as Error).message);
    }
  }
  const count = 4096;
  const rng = permutation(count * PIXELS, SEED); // any seeded numbers will do
  const images = Uint8Array.from(rng, (v) => v % 256);
  const labels = Uint8Array.from({ length: count }, (_, i) => i % 10);
  return { images, labels, count, description: `random data (no Fashion-MNIST found: ${failures.at(-1) ?? 'no folder'})` };
}

async function measure({ backend, threads }: Job, opts: Options): Promise<ChildResult> {
  try {
    await initTf(backend);
  } catch (err) {
    return { backend, data: '', skipped: (err as Error).message };
  }
  const data = await loadData();
  const batch = opts.batchSize;
  const samples = backend === 'cpu' ? Math.min(opts.samples, CPU_SAMPLES) : opts.samples;
  const steps = Math.ceil(samples / batch);
  const warmup = backend === 'cpu' ? 1 : opts.warmup;
  const order = permutation(data.count, SEED);
  const indicesAt = (start: number, n: number) => Array.from({ length: n }, (_, i) => order[(start + i) % data.count]);

  const model = buildModel(SEED);
  const optimizer = adam();
  let train: TrainRow;
  let kernels: KernelCounts | undefined;
  const trainer = await createTrainer(model, optimizer, { threads, backend, maxBatch: batch });
  try {
    // the train step's own call: the batch gathered from the dataset, then one step, which returns
    // when the loss is known (the workers' shards included)
    const step = (i: number) => {
      const idx = indicesAt(i * batch, batch);
      trainer.step(gatherImages(data.images, idx), gatherLabels(data.labels, idx), SEED + i);
    };
    for (let i = 0; i < warmup; i++) step(i);
    resetKernelCounts();
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) step(warmup + i);
    const seconds = (performance.now() - t0) / 1000;
    // the counters are per thread: with more threads, the workers' shards count out of reach here
    kernels = backend === 'wasm' && trainer.threads === 1 ? kernelCounts() : undefined;
    const samplesPerS = roundDecimals((steps * batch) / seconds, 1);
    train = {
      backend,
      workers: trainer.threads,
      batch_size: batch,
      warmup_steps: warmup,
      samples: steps * batch,
      seconds: roundDecimals(seconds, 3),
      samples_per_s: samplesPerS,
      rounds: [samplesPerS],
    };
  } finally {
    await trainer.dispose();
  }

  // inference on the trained model, on this thread alone (wasm is single-threaded): workers 1 in
  // every row, whatever the training threads
  const batches = Math.max(1, (backend === 'cpu' ? CPU_SAMPLES * 4 : 8 * PREDICT_BATCH) / PREDICT_BATCH);
  const predictOnce = (i: number) => {
    const xs = tf.tensor4d(gatherImages(data.images, indicesAt(i * PREDICT_BATCH, PREDICT_BATCH)), [PREDICT_BATCH, ...IMAGE_SHAPE]);
    const probs = model.predict(xs) as tf.Tensor;
    probs.dataSync();
    tf.dispose([xs, probs]);
  };
  predictOnce(0);
  const t0 = performance.now();
  for (let i = 0; i < batches; i++) predictOnce(i + 1);
  const seconds = (performance.now() - t0) / 1000;
  const predict: PredictRow = {
    backend,
    workers: 1,
    batch_size: PREDICT_BATCH,
    samples: batches * PREDICT_BATCH,
    seconds: roundDecimals(seconds, 3),
    samples_per_s: roundDecimals((batches * PREDICT_BATCH) / seconds, 1),
  };
  model.dispose();
  optimizer.dispose();
  return { backend, data: data.description, train, predict, kernels };
}

/** `v` to `decimals` places after the point, for the printed table and JSON. */
function roundDecimals(v: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(v * f) / f;
}

// ---------------------------------------------------------------- render: figures and report on a finished run

/** The run to draw: --render-run, else the first of RENDER_RUNS that got as far as feature-maps; else why there is none. */
function renderRunDir(opts: Options): string | { skipped: string } {
  const candidates = opts.renderRun ? [opts.renderRun] : RENDER_RUNS;
  const found = candidates.find((dir) => existsSync(join(dir, 'feature-maps', 'index.json')) && existsSync(join(dir, 'run.json')));
  if (found) return found;
  return { skipped: `no finished run at ${candidates.join(' or ')}: run \`npm run pipeline\` first, or pass --render-run <run folder>` };
}

/**
 * Redraws the figures and the report of a copy of the run with the real CLI (a process of its
 * own, as each backend gets) and reads the steps' wall times from the copy's run.json, which the
 * runner measures around each step.
 */
async function measureRender(runDir: string): Promise<RenderRow> {
  const recorded = await readManifest(join(runDir, 'run.json'));
  const root = await mkdtemp(join(tmpdir(), 'cnn-lens-bench-render-'));
  try {
    const id = basename(runDir);
    const artifacts = join(root, 'artifacts');
    const copy = join(artifacts, 'runs', id);
    await cp(runDir, copy, { recursive: true });
    const lang = recorded?.params.lang ?? 'en';
    // A run made before a step was added lacks that step's output, which figures reads: bring the
    // steps before figures up to date first (with the run's own backend, as the run was made), unmeasured.
    const before = STEP_NAMES[STEP_NAMES.indexOf('figures') - 1];
    const prepare = ['--artifacts', artifacts, '--run', id, '--to', before, '--backend', recorded?.params.backend ?? 'auto', '--lang', lang];
    const prepared = await runNode(join(PROJECT_ROOT, 'pipeline', 'main.ts'), prepare);
    if (prepared.code !== 0) throw new Error(`bringing a copy of ${runDir} up to ${before} failed (exit ${prepared.code}): ${prepared.output.trim().split('\n').at(-1) ?? ''}`);
    // The figures and report depend on the language only; cpu is the backend quickest to start
    // (neither step runs TensorFlow.js, but the runner starts one before the first step).
    const args = ['--artifacts', artifacts, '--run', id, '--from', 'figures', '--force', '--backend', 'cpu', '--lang', lang];
    const { code, output } = await runNode(join(PROJECT_ROOT, 'pipeline', 'main.ts'), args);
    if (code !== 0) throw new Error(`figures and report on a copy of ${runDir} failed (exit ${code}): ${output.trim().split('\n').at(-1) ?? ''}`);
    const steps = (await readManifest(join(copy, 'run.json')))?.steps ?? {};
    const figures = steps.figures?.seconds ?? NaN;
    const report = steps.report?.seconds ?? NaN;
    return {
      run: runDir,
      figures_s: roundDecimals(figures, 3),
      report_s: roundDecimals(report, 3),
      seconds: roundDecimals(figures + report, 3),
      budget_s: RENDER_BUDGET_S,
      report_bytes: (await stat(join(copy, 'report.html'))).size,
    };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

function renderLine(r: RenderRow | { skipped: string }): string {
  if ('skipped' in r) return `render: skipped: ${r.skipped}`;
  const verdict = r.seconds <= r.budget_s ? 'within' : 'OVER';
  return `render (${r.run}): figures ${r.figures_s.toFixed(2)} s + report ${r.report_s.toFixed(2)} s = ${r.seconds.toFixed(2)} s, ${verdict} the budget of ${r.budget_s} s; report.html ${(r.report_bytes / 1e6).toFixed(2)} MB`;
}

/** Runs a script of ours with this process's loader (tsx), collecting its stdout and stderr. */
function runNode(script: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

// ---------------------------------------------------------------- parent: one child per backend

/** Runs this script again for one backend; its last stdout line is its ChildResult. */
function runChild(job: Job, opts: Options): Promise<ChildResult> {
  const { backend, threads } = job;
  const script = fileURLToPath(import.meta.url);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, script], {
      env: { ...process.env, [CHILD_ENV]: JSON.stringify({ job, opts }) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const last = out.trim().split('\n').at(-1) ?? '';
      try {
        if (code !== 0) throw new Error(`exit ${code}`);
        resolve(JSON.parse(last) as ChildResult);
      } catch {
        // tfjs prints minified source with some errors: keep the message, not the megabyte
        const why = err.split('\n').filter((l) => l.length < 400 && /error/i.test(l)).slice(0, 3).join(' | ');
        reject(new Error(`bench on ${backend} with ${threads} thread(s) failed (exit ${code}): ${why || last || 'no output'}`));
      }
    });
  });
}

function table(results: ChildResult[]): string {
  const header = ['backend', 'workers', 'batch', 'train samples/s', 'timed samples', 'after steps', 'predict samples/s'];
  const rows = results.map((r) =>
    r.skipped
      ? [r.backend, '-', '-', `skipped: ${r.skipped}`, '', '', '']
      : [
          r.backend,
          String(r.train?.workers ?? '-'),
          String(r.train?.batch_size ?? '-'),
          r.train ? `${r.train.samples_per_s.toFixed(1)}${r.train.rounds.length > 1 ? ` (${r.train.rounds.map((v) => v.toFixed(0)).join(', ')})` : ''}` : '-',
          String(r.train?.samples ?? '-'),
          String(r.train?.warmup_steps ?? '-'),
          r.predict?.samples_per_s.toFixed(1) ?? '-',
        ],
  );
  const widths = header.map((h, i) => Math.max(h.length, ...rows.filter((r) => i === 0 || !r[3].startsWith('skipped')).map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 || c.startsWith('skipped') ? c : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** A row's rounds as one result: the first round's, with the median samples/s of all. */
function medianResult(results: ChildResult[]): ChildResult {
  const [first] = results;
  if (!first.train) return first;
  const all = results.flatMap((r) => (r.train ? [r.train.samples_per_s] : []));
  return { ...first, train: { ...first.train, samples_per_s: median(all), rounds: all } };
}

function medianPeer(rounds: (PeerRow | PeerSkipped)[]): PeerMedian {
  const skipped = rounds.find((r): r is PeerSkipped => 'skipped' in r);
  if (skipped) return skipped;
  const rows = rounds as PeerRow[];
  const all = rows.map((r) => r.samples_per_s);
  return { ...rows[0], samples_per_s: median(all), rounds: all };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return roundDecimals(sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2, 1);
}

type PeerMedian = (PeerRow & { rounds: number[] }) | PeerSkipped;

/**
 * The figures the issue judges by: wasm with the most threads against PyTorch, and against 1
 * thread; beside the latter, PyTorch's own 2 threads against 1 when it ran with 1 (peerOne).
 */
function ratioLines(results: ChildResult[], peer: PeerMedian, peerOne?: PeerMedian): { text: string; values: Record<string, number> } {
  if ('skipped' in peer) return { text: `pytorch: skipped: ${peer.skipped}`, values: {} };
  const wasm = results.flatMap((r) => (r.train && r.backend === 'wasm' ? [r.train] : []));
  const one = wasm.find((t) => t.workers === 1);
  const most = wasm.reduce<TrainRow | undefined>((best, t) => (!best || t.workers > best.workers ? t : best), undefined);
  const peerLine = (p: PeerRow & { rounds: number[] }) =>
    `pytorch ${p.version}, ${p.threads} thread${p.threads === 1 ? '' : 's'}: ${p.samples_per_s.toFixed(1)} samples/s${p.rounds.length > 1 ? ` (${p.rounds.map((v) => v.toFixed(0)).join(', ')})` : ''}`;
  const alone = peerOne && !('skipped' in peerOne) ? peerOne : undefined;
  const lines = [...(alone ? [peerLine(alone)] : []), peerLine(peer)];
  const values: Record<string, number> = {};
  if (most) {
    values.wasm_vs_pytorch = roundDecimals(most.samples_per_s / peer.samples_per_s, 2);
    lines.push(`wasm with ${most.workers} thread(s) / pytorch with ${peer.threads}: ${values.wasm_vs_pytorch.toFixed(2)}x`);
  }
  if (most && one && most !== one) {
    values.threads_vs_one = roundDecimals(most.samples_per_s / one.samples_per_s, 2);
    lines.push(`wasm with ${most.workers} threads / 1 thread: ${values.threads_vs_one.toFixed(2)}x`);
  }
  if (alone) {
    values.pytorch_threads_vs_one = roundDecimals(peer.samples_per_s / alone.samples_per_s, 2);
    lines.push(`pytorch with ${peer.threads} threads / 1 thread: ${values.pytorch_threads_vs_one.toFixed(2)}x`);
  }
  return { text: lines.join('\n'), values };
}

/** One line: how often each project kernel took its fast path in wasm's timed steps, and why not. */
function kernelLine(counts: KernelCounts, samples: number): string {
  const parts = Object.entries(counts).map(([name, c]) => {
    const why = Object.entries(c.reasons).map(([reason, n]) => `${n}x ${reason}`);
    return `${name} ${c.fast}/${c.fallback}${why.length ? ` (${why.join(', ')})` : ''}`;
  });
  return `wasm kernels over the ${samples} timed samples, fast/fallback: ${parts.join(', ')}`;
}

async function main(): Promise<void> {
  const child = process.env[CHILD_ENV];
  if (child) {
    const { job, opts } = JSON.parse(child) as { job: Job; opts: Options };
    console.log(JSON.stringify(await measure(job, opts)));
    return;
  }
  let opts: Options | 'help';
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`bench: ${err.message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (opts === 'help') {
    console.log(USAGE);
    return;
  }
  const loadBefore = loadavg();
  const jobs: Job[] = (opts.rows.includes('train') ? opts.backends : []).flatMap((backend): Job[] =>
    backend === 'wasm' ? opts.threads.map((threads) => ({ backend, threads })) : [{ backend, threads: 1 }],
  );
  // Every round runs every row once, the peer last: on a machine whose load changes, interleaved
  // rounds and medians compare the rows under the same conditions.
  const rounds: ChildResult[][] = jobs.map(() => []);
  const peerRounds: (PeerRow | PeerSkipped)[] = [];
  // PyTorch's own scaling beside wasm's, when there is a 1-thread wasm row to compare it with
  const peerOneRounds: (PeerRow | PeerSkipped)[] = [];
  const peerAlone = jobs.some((j) => j.backend === 'wasm' && j.threads === 1) && PEER_THREADS > 1;
  const steps = Math.ceil(opts.samples / opts.batchSize);
  for (let round = 1; round <= (jobs.length > 0 ? opts.rounds : 0); round++) {
    const of = opts.rounds > 1 ? ` (round ${round}/${opts.rounds})` : '';
    for (const [i, job] of jobs.entries()) {
      const threads = job.threads > SHARDS ? `${job.threads} threads asked for (${SHARDS} train: one per shard)` : `${job.threads} thread(s)`;
      if (!opts.json) console.error(`bench: ${job.backend}${job.backend === 'wasm' ? ` with ${threads}` : ''}${of}...`);
      rounds[i].push(await runChild(job, opts));
    }
    if (opts.peer && !peerRounds.some((p) => 'skipped' in p)) {
      if (peerAlone) {
        if (!opts.json) console.error(`bench: ${opts.peer} with 1 thread${of}...`);
        peerOneRounds.push(await runPytorchPeer(1, opts.batchSize, steps, opts.warmup));
      }
      if (!opts.json) console.error(`bench: ${opts.peer} with ${PEER_THREADS} threads${of}...`);
      peerRounds.push(await runPytorchPeer(PEER_THREADS, opts.batchSize, steps, opts.warmup));
    }
  }
  const results = rounds.map(medianResult);
  const peer = peerRounds.length === 0 ? undefined : medianPeer(peerRounds);
  const peerOne = peerOneRounds.length === 0 ? undefined : medianPeer(peerOneRounds);
  let render: RenderRow | { skipped: string } | undefined;
  if (opts.rows.includes('render')) {
    const dir = renderRunDir(opts);
    if (!opts.json && typeof dir === 'string') console.error(`bench: figures and report on a copy of ${dir}...`);
    render = typeof dir === 'string' ? await measureRender(dir) : dir;
  }
  const data = results.find((r) => r.data)?.data ?? 'none';
  const load = { before: loadBefore.map((v) => roundDecimals(v, 2)), after: loadavg().map((v) => roundDecimals(v, 2)) };
  if (results.length > 0) console.log(`data: ${data}`);
  console.log(`load average (1, 5, 15 min): ${load.before.join(' ')} before, ${load.after.join(' ')} after, on ${availableParallelism()} cores`);
  if (results.length > 0) console.log(table(results));
  const ratios = peer ? ratioLines(results, peer, peerOne) : undefined;
  if (peer) console.log(ratios?.text ?? '');
  if (render) console.log(renderLine(render));
  const counted = results.find((r) => r.kernels);
  if (counted?.kernels) console.log(kernelLine(counted.kernels, counted.train?.samples ?? 0));
  if (opts.json) {
    console.log(
      JSON.stringify({
        train: results.flatMap((r) => (r.train ? [r.train] : [])),
        predict: results.flatMap((r) => (r.predict ? [r.predict] : [])),
        skipped: results.flatMap((r) => (r.skipped ? [{ backend: r.backend, reason: r.skipped }] : [])),
        ...(render && { render }),
        data,
        kernel_counts: counted?.kernels ?? null,
        ...(peer && { peer, ratios: ratios?.values }),
        ...(peerOne && { peer_one_thread: peerOne }),
        load_average: load,
        cores: availableParallelism(),
        node: process.version,
      }),
    );
  }
}

main().catch((err: unknown) => {
  console.error(`bench: ${(err as Error).message}`);
  process.exit(1);
});
