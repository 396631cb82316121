/**
 * Training on every core the run is given: trainer.ts's shards, one per thread. The main thread
 * holds the model and its Adam state (what the train step saves and resumes) and computes shard
 * 0; each worker thread holds a copy of the model's architecture (dropout rate included),
 * computes the gradients of its shard and writes them back. The main thread averages them in
 * shard order and takes the Adam step: the same operations on the same numbers as trainBatch's
 * shards one after the other, so 1 and 2 threads give the same bits. Meanwhile the worker, as the
 * native kernels' Adam helper, steps the upper half of each large variable and gets the new
 * weights written into buffers of its own: Adam's pass on both cores, and no hand-over of the
 * weights before the next step (shared memory carries them only when they changed otherwise).
 * Validation is shared the same way: each thread evaluates every other batch of trainer.ts
 * evaluate, and the main thread adds the batches' losses in order. Each thread runs
 * wasm single-threaded: an XNNPACK thread pool beside the worker made a step 30% slower.
 *
 * Tasks are synchronised with Atomics on SharedArrayBuffers: no messages on the hot path.
 */
import { Worker } from 'node:worker_threads';
import { PIXELS } from '../catalog/dataset.js';
import { tf } from '../tfjs/tf.js';
import { adamHelperBoard, nativeKernels, openAdamHelper, releaseAdamHelper, setNativeThreads } from '../tfjs/native-kernels.js';
import { heapViews, type WasmHeapBackend } from '../tfjs/wasm-kernels/heap.js';
import {
  applyShards,
  evaluate,
  evaluateBatch,
  evaluationBatches,
  evaluationTotals,
  SHARDS,
  shardGradients,
  shardRanges,
  trainableVariables,
  trainBatch,
  type BatchResult,
  type EvalResult,
  type ShardGradients,
} from './trainer.js';

/** What trains the model, one batch per call. */
export interface Trainer {
  /** threads computing shards (1: this one) */
  readonly threads: number;
  /**
   * Tasks whose weights went to the worker threads through shared memory: the first one, and
   * those after the weights changed outside the trainer (restored, loaded). The others' came from
   * the workers' Adam helper. 0 with 1 thread.
   */
  readonly handovers: number;
  step(images: Float32Array, labels: Int32Array, stepSeed: number): BatchResult;
  /** trainer.ts evaluate of the model on the validation set given at creation, its batches over the threads: the same bits */
  validate(): EvalResult;
  dispose(): Promise<void>;
}

/** The held-out samples the trainer validates on (images [n * PIXELS] in [0, 1], labels [n]). */
export interface ValidationSet {
  x: Float32Array;
  y: Int32Array;
}

/**
 * The trainer for `threads` threads: at most one per shard, and only on wasm (tfjs-node has its
 * own thread pool, cpu is the slow reference). With 1, trainBatch on this thread.
 */
export async function createTrainer(
  model: tf.LayersModel,
  optimizer: tf.Optimizer,
  opts: { threads: number; backend: string; maxBatch: number; validation?: ValidationSet },
): Promise<Trainer> {
  const threads = opts.backend === 'wasm' ? Math.min(opts.threads, SHARDS) : 1;
  if (threads === 1) {
    return {
      threads,
      handovers: 0,
      step: (images, labels, seed) => trainBatch(model, optimizer, images, labels, seed),
      validate: () => evaluate(model, ...validationSet(opts.validation)),
      dispose: async () => undefined,
    };
  }
  return ParallelTrainer.start(model, optimizer, threads, opts.maxBatch, opts.validation);
}

const NO_VALIDATION_SET = 'validate(): this trainer was made without a validation set (createTrainer opts.validation)';

function validationSet(set: ValidationSet | undefined): [Float32Array, Int32Array] {
  if (!set) throw new Error(NO_VALIDATION_SET);
  return [set.x, set.y];
}

/**
 * The worker module is TypeScript, and a worker thread does not inherit the tsx loader of the
 * thread that starts it: load it through tsx's API.
 */
const WORKER_BOOTSTRAP = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})
  .then(({ tsImport }) => tsImport(${JSON.stringify(new URL('./shard-worker.ts', import.meta.url).href)}, ${JSON.stringify(import.meta.url)}))`;

/** Control slots (Int32Array indices). */
const GO = 0; // the task the main thread asks for (counted); -1 = stop
const TASK = 1; // what that task is: TRAIN or VALIDATE
const SEED = 2; // a TRAIN task's seed
const FAILED = 3; // 1 + the thread that failed (its message is in `error`)
const FRESH = 4; // 1: the task's weights are in `weights`; 0: the workers hold them already
const SIZE = 5; // SHARDS slots: shard sizes
const DONE = SIZE + SHARDS; // one slot per thread: the task it has finished

const TRAIN = 0; // compute your shards of the batch
const VALIDATE = 1; // evaluate your batches of the validation set

/** How long the main thread waits for a worker's shard before it takes the worker for dead. */
const STALL_MS = 120_000;

export interface SharedLayout {
  threads: number;
  maxShard: number;
  params: number;
  ctrl: SharedArrayBuffer;
  images: SharedArrayBuffer;
  labels: SharedArrayBuffer;
  weights: SharedArrayBuffer;
  grads: SharedArrayBuffer;
  /** per shard: mean loss, correct count */
  stats: SharedArrayBuffer;
  error: SharedArrayBuffer;
  /** where the worker's Adam helper and the main thread's Adam step meet (native kernels), when there are native kernels */
  adamBoard?: SharedArrayBuffer;
  /** the validation set (float32 images, int32 labels), when there is one */
  valImages?: SharedArrayBuffer;
  valLabels?: SharedArrayBuffer;
  /** per validation batch: its loss sum (float64); per validation sample: its prediction (int32) */
  valLoss?: SharedArrayBuffer;
  valPredictions?: SharedArrayBuffer;
}

export interface WorkerInit {
  layout: SharedLayout;
  thread: number;
  /** the model's architecture (model.toJSON), dropout rate included */
  topology: unknown;
}

/** The shards thread t computes. */
const shardsOf = (t: number, threads: number) => Array.from({ length: SHARDS }, (_, r) => r).filter((r) => r % threads === t);

/** The validation batches thread t evaluates (every threads-th, so each thread has as many, give or take one). */
const valBatchesOf = (t: number, threads: number, n: number) => evaluationBatches(n).map((b, i) => ({ ...b, i })).filter(({ i }) => i % threads === t);

/** The shared validation buffers, or an error when the trainer was made without a validation set. */
function sharedValidation({ valImages, valLabels, valLoss, valPredictions }: SharedLayout) {
  if (!valImages || !valLabels || !valLoss || !valPredictions) throw new Error(NO_VALIDATION_SET);
  return { valImages, valLabels, valLoss, valPredictions };
}

/** Thread t's validation batches of the shared set: the loss sums and predictions written in place. */
function validateBatches(model: tf.LayersModel, layout: SharedLayout, t: number): void {
  const { valImages, valLabels, valLoss, valPredictions } = sharedValidation(layout);
  const images = new Float32Array(valImages);
  const labels = new Int32Array(valLabels);
  const losses = new Float64Array(valLoss);
  const predictions = new Int32Array(valPredictions);
  for (const { start, end, i } of valBatchesOf(t, layout.threads, labels.length)) {
    const batch = evaluateBatch(model, images.subarray(start * PIXELS, end * PIXELS), labels.subarray(start, end));
    losses[i] = batch.lossSum;
    predictions.set(batch.predictions, start);
  }
}

/** The model's trainable weights, in order, into shared memory (what a worker takes before each task). */
function shareWeights(vars: tf.Variable[], layout: SharedLayout): void {
  const weights = new Float32Array(layout.weights);
  let at = 0;
  for (const v of vars) {
    weights.set(heapView(v), at);
    at += v.size;
  }
}

function shared<T extends Float32Array | Int32Array>(array: T): SharedArrayBuffer {
  const buffer = new SharedArrayBuffer(array.byteLength);
  new (array.constructor as new (b: SharedArrayBuffer) => T)(buffer).set(array);
  return buffer;
}

function publish(ctrl: Int32Array, slot: number, value: number): void {
  Atomics.store(ctrl, slot, value);
  Atomics.notify(ctrl, slot);
}

function failure(layout: SharedLayout): Error {
  const bytes = new Uint8Array(layout.error);
  const end = bytes.indexOf(0);
  const message = new TextDecoder().decode(bytes.slice(0, end < 0 ? bytes.length : end));
  return new Error(`training thread ${Atomics.load(new Int32Array(layout.ctrl), FAILED) - 1} failed: ${message}`);
}

class ParallelTrainer implements Trainer {
  private taskNo = 0;
  private handed = 0;
  private readonly ctrl: Int32Array;
  /**
   * The weights the workers hold: the variables' data when they last went to the workers (through
   * shared memory, or written by their Adam helper), or null: then the next task hands them over.
   * Anything else that assigns a variable (restoring the best weights, a resume) gives it new data.
   */
  private workersHold: tf.DataId[] | null = null;

  private constructor(
    private readonly model: tf.LayersModel,
    private readonly optimizer: tf.Optimizer,
    private readonly layout: SharedLayout,
    private readonly workers: Worker[],
  ) {
    this.ctrl = new Int32Array(layout.ctrl);
  }

  get threads(): number {
    return this.layout.threads;
  }

  get handovers(): number {
    return this.handed;
  }

  static async start(model: tf.LayersModel, optimizer: tf.Optimizer, threads: number, maxBatch: number, validation?: ValidationSet): Promise<ParallelTrainer> {
    const params = trainableVariables(model).reduce((n, v) => n + v.size, 0);
    const maxShard = Math.ceil(maxBatch / SHARDS);
    const layout: SharedLayout = {
      threads,
      maxShard,
      params,
      ctrl: new SharedArrayBuffer(4 * (DONE + threads)),
      images: new SharedArrayBuffer(4 * SHARDS * maxShard * PIXELS),
      labels: new SharedArrayBuffer(4 * SHARDS * maxShard),
      weights: new SharedArrayBuffer(4 * params),
      grads: new SharedArrayBuffer(4 * SHARDS * params),
      stats: new SharedArrayBuffer(8 * 2 * SHARDS),
      error: new SharedArrayBuffer(2048),
      adamBoard: adamHelperBoard(),
      ...(validation && {
        valImages: shared(validation.x),
        valLabels: shared(validation.y),
        valLoss: new SharedArrayBuffer(8 * evaluationBatches(validation.y.length).length),
        valPredictions: new SharedArrayBuffer(4 * validation.y.length),
      }),
    };
    const workers: Worker[] = [];
    const trainer = new ParallelTrainer(model, optimizer, layout, workers);
    try {
      for (let t = 1; t < threads; t++) {
        const init: WorkerInit = { layout, thread: t, topology: model.toJSON(undefined, false) };
        const worker = new Worker(WORKER_BOOTSTRAP, { eval: true, workerData: init });
        workers.push(worker);
        await new Promise<void>((resolve, reject) => {
          worker.once('message', (m) => (m === 'ready' ? resolve() : reject(new Error(String(m)))));
          worker.once('error', reject);
        });
        // a process that ends without dispose() (an uncaught error) must not wait for it
        worker.unref();
      }
    } catch (err) {
      await trainer.dispose();
      throw err;
    }
    return trainer;
  }

  step(images: Float32Array, labels: Int32Array, stepSeed: number): BatchResult {
    return this.onOwnCore(() => this.runStep(images, labels, stepSeed));
  }

  validate(): EvalResult {
    const { layout } = this;
    // before the worker is asked: it would fail too, and a failed worker is gone
    const { valLabels, valLoss, valPredictions } = sharedValidation(layout);
    return this.onOwnCore(() => {
      this.offerWeights(trainableVariables(this.model));
      const task = this.post(VALIDATE);
      validateBatches(this.model, layout, 0);
      this.waitForWorkers(task);
      return evaluationTotals(new Int32Array(valLabels), new Float64Array(valLoss), new Int32Array(valPredictions).slice());
    });
  }

  /** The threads take the cores: this thread's products run on this thread alone meanwhile. */
  private onOwnCore<T>(work: () => T): T {
    const nativeThreads = setNativeThreads(1);
    try {
      return work();
    } finally {
      setNativeThreads(nativeThreads);
    }
  }

  /** The step's weights into shared memory for the workers, unless they hold them already. */
  private offerWeights(vars: tf.Variable[]): void {
    const held = this.workersHold;
    const fresh = !held || vars.length !== held.length || vars.some((v, i) => v.dataId !== held[i]);
    if (fresh) {
      shareWeights(vars, this.layout);
      this.handed++;
      this.workersHold = vars.map((v) => v.dataId);
    }
    Atomics.store(this.ctrl, FRESH, fresh ? 1 : 0);
  }

  /** Asks the workers for a task; returns its number. */
  private post(task: number): number {
    Atomics.store(this.ctrl, TASK, task);
    const n = ++this.taskNo;
    publish(this.ctrl, GO, n);
    return n;
  }

  private waitForWorkers(task: number): void {
    for (let t = 1; t < this.layout.threads; t++) this.waitFor(DONE + t, task);
  }

  private runStep(images: Float32Array, labels: Int32Array, stepSeed: number): BatchResult {
    const { layout, ctrl } = this;
    const n = labels.length;
    if (n > layout.maxShard * SHARDS) throw new Error(`a batch of ${n} is larger than the ${layout.maxShard * SHARDS} the trainer was made for`);
    const ranges = shardRanges(n);
    const vars = trainableVariables(this.model);
    this.offerWeights(vars);
    // the step's Adam gives the variables new data: the workers hold it only if their helper gets it
    this.workersHold = null;
    const sharedImages = new Float32Array(layout.images);
    const sharedLabels = new Int32Array(layout.labels);
    ranges.forEach(({ start, size }, r) => {
      Atomics.store(ctrl, SIZE + r, size);
      if (r % layout.threads === 0) return; // this thread's own: read in place
      sharedImages.set(images.subarray(start * PIXELS, (start + size) * PIXELS), r * layout.maxShard * PIXELS);
      sharedLabels.set(labels.subarray(start, start + size), r * layout.maxShard);
    });
    Atomics.store(ctrl, SEED, stepSeed | 0);
    const task = this.post(TRAIN);
    // open before the worker's helper registers: a step that fails here first is closed for it too
    if (layout.adamBoard) openAdamHelper(layout.adamBoard, task);
    try {
      return this.stepShards(images, labels, stepSeed, ranges, task, vars);
    } finally {
      // the worker's Adam helper (serveShards) waits until told the step is over, however it ended
      if (releaseAdamHelper() === vars.length) this.workersHold = vars.map((v) => v.dataId);
    }
  }

  private stepShards(images: Float32Array, labels: Int32Array, stepSeed: number, ranges: { start: number; size: number }[], task: number, vars: tf.Variable[]): BatchResult {
    const { layout } = this;
    const shards: (ShardGradients & { size: number })[] = [];
    for (const [r, { start, size }] of ranges.entries()) {
      if (r % layout.threads !== 0 || size === 0) continue;
      shards[r] = { size, ...shardGradients(this.model, images.subarray(start * PIXELS, (start + size) * PIXELS), labels.subarray(start, start + size), stepSeed | 0, r) };
    }
    // the worker registered its Adam helper (if it has one) before it said it was done
    this.waitForWorkers(task);
    const grads = new Float32Array(layout.grads);
    const stats = new Float64Array(layout.stats);
    ranges.forEach(({ size }, r) => {
      if (shards[r]) return;
      if (size === 0) {
        shards[r] = { size, grads: [], loss: 0, correct: 0 };
        return;
      }
      // read in place (applyShards makes tensors of them only where the native kernels are missing)
      let offset = r * layout.params;
      const list = vars.map((v) => {
        const g = grads.subarray(offset, offset + v.size);
        offset += v.size;
        return g;
      });
      shards[r] = { size, grads: list, loss: stats[2 * r], correct: stats[2 * r + 1] };
    });
    return applyShards(this.model, this.optimizer, shards);
  }

  /**
   * Blocks until ctrl[slot] === value; throws when a thread failed. A worker that dies without
   * saying so (out of memory, killed) cannot be seen from here: this thread is blocked, so no
   * 'exit' event arrives. A shard takes well under a second; a silence of STALL_MS is a death.
   */
  private waitFor(slot: number, value: number): void {
    const since = performance.now();
    for (;;) {
      const now = Atomics.load(this.ctrl, slot);
      if (now === value) return;
      if (Atomics.load(this.ctrl, FAILED) !== 0) throw failure(this.layout);
      if (performance.now() - since > STALL_MS) {
        throw new Error(`training thread ${slot - DONE} has not answered for ${STALL_MS / 1000} s (out of memory or killed?); --threads 1 trains on the main thread alone`);
      }
      Atomics.wait(this.ctrl, slot, now, 200);
    }
  }

  async dispose(): Promise<void> {
    publish(this.ctrl, GO, -1);
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** The worker side (shard-worker.ts): a copy of the model's architecture that does its part of each task until told to stop. */
export async function serveShards(init: WorkerInit, ready: () => void): Promise<void> {
  const { layout, thread } = init;
  const ctrl = new Int32Array(layout.ctrl);
  const model = await tf.models.modelFromJSON({ modelTopology: init.topology } as tf.io.ModelJSON);
  const vars = trainableVariables(model);
  ready();
  const fail = (err: unknown) => {
    const bytes = new TextEncoder().encode((err as Error).message).subarray(0, layout.error.byteLength - 1);
    new Uint8Array(layout.error).set(bytes);
    Atomics.compareExchange(ctrl, FAILED, 0, thread + 1);
    Atomics.notify(ctrl, DONE + thread);
  };
  let last = 0;
  for (;;) {
    Atomics.wait(ctrl, GO, last);
    const task = Atomics.load(ctrl, GO);
    if (task === -1) break;
    if (task === last) continue;
    last = task;
    let copies: tf.TensorInfo[] | null = null;
    try {
      if (Atomics.load(ctrl, FRESH) === 1) takeWeights(vars, layout);
      if (Atomics.load(ctrl, TASK) === VALIDATE) validateBatches(model, layout, thread);
      else {
        computeShards(model, layout, thread);
        copies = offerAdamHelp(vars, layout, thread, task);
      }
    } catch (err) {
      fail(err);
      break;
    }
    publish(ctrl, DONE + thread, task);
    if (!copies) continue;
    try {
      takeAdamStep(vars, layout, copies);
    } catch (err) {
      fail(err);
      break;
    }
  }
  model.dispose();
}

/** The weights the main thread put in shared memory. */
function takeWeights(vars: tf.Variable[], layout: SharedLayout): void {
  const weights = new Float32Array(layout.weights);
  let at = 0;
  for (const v of vars) {
    const value = tf.tensor(weights.subarray(at, at + v.size), v.shape, 'float32');
    v.assign(value);
    value.dispose();
    at += v.size;
  }
}

/**
 * While the main thread takes Adam's step, this thread steps part of each large variable (the
 * native kernels' Adam helper) and gets the new weights written into fresh buffers of its own:
 * Adam's pass on both cores, and no hand-over of the weights before the next task. Registers
 * the buffers (before DONE is published: the main thread's Adam step comes after it); null where
 * the native kernels are missing or refuse the model (then the weights come through shared memory).
 */
function offerAdamHelp(vars: tf.Variable[], layout: SharedLayout, thread: number, task: number): tf.TensorInfo[] | null {
  const native = nativeKernels();
  // one helper per board: the first worker's
  if (!native || !layout.adamBoard || thread !== 1 || tf.getBackend() !== 'wasm') return null;
  const backend = tf.backend() as unknown as WasmHeapBackend;
  const copies = vars.map((v) => backend.makeOutput(v.shape, 'float32'));
  if (native.adamHelperRegister(new Int32Array(layout.adamBoard), heapViews(backend, ...copies), new Int32Array(layout.ctrl), GO, task)) return copies;
  for (const copy of copies) tf.engine().makeTensorFromTensorInfo(copy).dispose();
  return null;
}

/** Serves the main thread's Adam step; its weights become the variables' when every copy was written. */
function takeAdamStep(vars: tf.Variable[], layout: SharedLayout, copies: tf.TensorInfo[]): void {
  const board = layout.adamBoard;
  const written = board ? (nativeKernels()?.adamHelperServe(new Int32Array(board), STALL_MS) ?? -1) : -1;
  copies.forEach((copy, i) => {
    const value = tf.engine().makeTensorFromTensorInfo(copy);
    if (written === vars.length) vars[i].assign(value);
    value.dispose();
  });
}

/** A worker's shards of the batch in shared memory: their gradients and stats written in place. */
function computeShards(model: tf.LayersModel, layout: SharedLayout, thread: number): void {
  const ctrl = new Int32Array(layout.ctrl);
  const grads = new Float32Array(layout.grads);
  const stats = new Float64Array(layout.stats);
  const seed = Atomics.load(ctrl, SEED);
  for (const r of shardsOf(thread, layout.threads)) {
    const size = Atomics.load(ctrl, SIZE + r);
    if (size === 0) continue;
    const images = new Float32Array(layout.images, 4 * r * layout.maxShard * PIXELS, size * PIXELS);
    const labels = new Int32Array(layout.labels, 4 * r * layout.maxShard, size);
    const shard = shardGradients(model, images, labels, seed, r);
    let offset = r * layout.params;
    for (const g of shard.grads as tf.Tensor[]) {
      grads.set(heapView(g), offset);
      offset += g.size;
    }
    tf.dispose(shard.grads as tf.Tensor[]);
    stats[2 * r] = shard.loss;
    stats[2 * r + 1] = shard.correct;
  }
}

/**
 * A float32 tensor's values: on wasm a view of the backend's heap (no copy; read it before the
 * next allocation, which may move the heap), elsewhere dataSync's copy.
 */
function heapView(t: tf.Tensor): Float32Array {
  const backend = tf.backend() as Partial<WasmHeapBackend>;
  return (tf.getBackend() === 'wasm' && backend.typedArrayFromHeap ? backend.typedArrayFromHeap(t) : t.dataSync()) as Float32Array;
}
