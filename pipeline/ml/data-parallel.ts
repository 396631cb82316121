/**
 * Data-parallel training of the book's CNN on the wasm backend across worker threads. The wasm
 * backend runs on one thread in Node (its threaded build does not initialize there), so a second
 * core only helps by training a second replica: each replica computes the gradients of its shard
 * of the batch, the gradients are averaged through shared memory, and every replica applies the
 * same average with its own Adam. Same inputs, same arithmetic: the replicas stay bit-identical,
 * and the main thread's model is the trained model.
 *
 * The main thread is replica 0; replicas 1..n-1 are worker threads (data-parallel-worker.ts).
 * Steps are synchronised with Atomics on a SharedArrayBuffer: no messages on the hot path.
 */
import { Worker } from 'node:worker_threads';
import { IMAGE_SHAPE, PIXELS } from '../catalog/dataset.js';
import { buildModel } from './model.js';
import { tf } from '../tfjs/tf.js';
import { sparseCrossEntropy } from './trainer.js';

/**
 * The worker module is TypeScript, and a worker thread does not inherit the tsx loader of the
 * thread that starts it: load it through tsx's API.
 */
const WORKER_BOOTSTRAP = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})
  .then(({ tsImport }) => tsImport(${JSON.stringify(new URL('./data-parallel-worker.ts', import.meta.url).href)}, ${JSON.stringify(import.meta.url)}))`;

/** Control slots (Int32Array indices); per-replica slots follow. */
const GO = 0; // step number the main thread asks for; -1 = stop
const SEED = 1; // dropout seed of that step
const FAILED = 2; // 1 + the index of a replica that threw, so that no one waits for it forever
const SHARD = 3; // first of `replicas` slots: shard sizes
// then `replicas` slots: step whose gradients a replica has written
// then `replicas` slots: step whose average a replica has applied

export interface SharedLayout {
  replicas: number;
  maxShard: number;
  params: number;
  ctrl: SharedArrayBuffer;
  images: SharedArrayBuffer;
  labels: SharedArrayBuffer;
  grads: SharedArrayBuffer;
  stats: SharedArrayBuffer;
}

export interface WorkerInit {
  layout: SharedLayout;
  replica: number;
  seed: number;
}

const readySlot = (l: SharedLayout, r: number) => SHARD + l.replicas + r;
const appliedSlot = (l: SharedLayout, r: number) => SHARD + 2 * l.replicas + r;

/** Blocks until ctrl[slot] === value (Atomics.wait is allowed on Node's main thread too). */
function waitFor(ctrl: Int32Array, slot: number, value: number): void {
  for (;;) {
    const now = Atomics.load(ctrl, slot);
    if (now === value) return;
    const failed = Atomics.load(ctrl, FAILED);
    if (failed !== 0) throw new Error(`data-parallel replica ${failed - 1} failed`);
    if (Atomics.load(ctrl, GO) === -1) throw new Error('data-parallel training was stopped');
    Atomics.wait(ctrl, slot, now, 200);
  }
}

function publish(ctrl: Int32Array, slot: number, value: number): void {
  Atomics.store(ctrl, slot, value);
  Atomics.notify(ctrl, slot);
}

/** One copy of the model with its optimizer; the same code runs on every thread. */
export class Replica {
  readonly model: tf.LayersModel;
  readonly optimizer: tf.Optimizer;
  private readonly vars: tf.Variable[];
  private readonly ctrl: Int32Array;
  private readonly grads: Float32Array;
  private readonly stats: Float32Array;

  constructor(
    private readonly layout: SharedLayout,
    private readonly index: number,
    seed: number,
  ) {
    this.model = buildModel(seed);
    this.optimizer = tf.train.adam();
    this.vars = this.model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
    this.ctrl = new Int32Array(layout.ctrl);
    this.grads = new Float32Array(layout.grads);
    this.stats = new Float32Array(layout.stats);
  }

  /** Gradients of this replica's shard into shared memory, then the average of all, applied. */
  step(step: number): void {
    const { layout, ctrl, index } = this;
    try {
      this.shardGradients();
      publish(ctrl, readySlot(layout, index), step);
      for (let r = 0; r < layout.replicas; r++) waitFor(ctrl, readySlot(layout, r), step);
      this.applyAverage();
      publish(ctrl, appliedSlot(layout, index), step);
    } catch (err) {
      Atomics.compareExchange(ctrl, FAILED, 0, index + 1);
      throw err;
    }
  }

  /** The gradients of this replica's shard of the batch in shared memory, into its slot. */
  shardGradients(): void {
    const { layout, ctrl, index } = this;
    const n = Atomics.load(ctrl, SHARD + index);
    const dropoutSeed = (Atomics.load(ctrl, SEED) ^ Math.imul(index, 0x9e3779b9)) >>> 0;
    const offset = index * layout.maxShard;
    for (const layer of this.model.layers) {
      // tfjs's Dropout takes one seed at construction: give each step and replica its own
      if (layer.getClassName() === 'Dropout') (layer as unknown as { seed?: number }).seed = dropoutSeed;
    }
    tf.tidy(() => {
      const x = tf.tensor4d(new Float32Array(layout.images, offset * PIXELS * 4, n * PIXELS), [n, ...IMAGE_SHAPE]);
      const y = tf.tensor1d(new Int32Array(layout.labels, offset * 4, n), 'int32');
      let correct = 0;
      const { value, grads } = this.optimizer.computeGradients(() => {
        const probs = this.model.apply(x, { training: true }) as tf.Tensor2D;
        correct = tf.sum(tf.cast(tf.equal(tf.argMax(probs, -1), y), 'int32')).dataSync()[0];
        return sparseCrossEntropy(y, probs);
      }, this.vars);
      let at = index * layout.params;
      for (const v of this.vars) {
        const g = grads[v.name].dataSync() as Float32Array;
        this.grads.set(g, at);
        at += g.length;
      }
      this.stats[2 * index] = value.dataSync()[0];
      this.stats[2 * index + 1] = correct;
    });
  }

  /** The average of every replica's gradients, weighted by shard size, applied with Adam. Every
   * replica sums in the same order, so all get the same bits. */
  applyAverage(): void {
    const { layout, ctrl } = this;
    const total = Array.from({ length: layout.replicas }, (_, r) => Atomics.load(ctrl, SHARD + r)).reduce((a, b) => a + b, 0);
    const weights = Array.from({ length: layout.replicas }, (_, r) => Atomics.load(ctrl, SHARD + r) / total);
    tf.tidy(() => {
      const named: tf.NamedTensorMap = {};
      let at = 0;
      for (const v of this.vars) {
        const avg = new Float32Array(v.size);
        for (let r = 0; r < layout.replicas; r++) {
          const g = this.grads.subarray(r * layout.params + at, r * layout.params + at + v.size);
          const w = weights[r];
          for (let i = 0; i < avg.length; i++) avg[i] += g[i] * w;
        }
        named[v.name] = tf.tensor(avg, v.shape);
        at += v.size;
      }
      this.optimizer.applyGradients(named);
    });
  }
}

export interface StepResult {
  loss: number;
  correct: number;
}

/** Trains `replicas` copies of buildModel(seed) in lockstep; the main thread holds replica 0. */
export class DataParallelTrainer {
  private stepNo = 0;

  private constructor(
    readonly replica: Replica,
    private readonly layout: SharedLayout,
    private readonly workers: Worker[],
  ) {}

  /** The trained model (replica 0's; the others hold the same weights). */
  get model(): tf.LayersModel {
    return this.replica.model;
  }

  /** Starts the worker threads; the main thread must already run the wasm backend (initTf). */
  static async create(replicas: number, maxBatch: number, seed: number): Promise<DataParallelTrainer> {
    if (!Number.isInteger(replicas) || replicas < 2) throw new Error(`data-parallel training needs 2 or more replicas, got ${replicas}`);
    const layout = sharedLayout(replicas, maxBatch);
    const workers: Worker[] = [];
    for (let r = 1; r < replicas; r++) {
      const init: WorkerInit = { layout, replica: r, seed };
      const worker = new Worker(WORKER_BOOTSTRAP, { eval: true, workerData: init });
      await new Promise<void>((resolve, reject) => {
        worker.once('message', (m) => (m === 'ready' ? resolve() : reject(new Error(String(m)))));
        worker.once('error', reject);
      });
      workers.push(worker);
    }
    return new DataParallelTrainer(new Replica(layout, 0, seed), layout, workers);
  }

  /** One optimizer step on a batch: images [n * PIXELS] in [0, 1], labels [n]. */
  step(images: Float32Array, labels: Int32Array, dropoutSeed: number): StepResult {
    const { layout } = this;
    const n = labels.length;
    writeBatch(layout, images, labels, dropoutSeed);
    const ctrl = new Int32Array(layout.ctrl);
    const step = ++this.stepNo;
    publish(ctrl, GO, step);
    this.replica.step(step);
    for (let r = 1; r < layout.replicas; r++) waitFor(ctrl, appliedSlot(layout, r), step);
    const stats = new Float32Array(layout.stats);
    let loss = 0;
    let correct = 0;
    for (let r = 0; r < layout.replicas; r++) {
      loss += (stats[2 * r] * ctrl[SHARD + r]) / n;
      correct += stats[2 * r + 1];
    }
    return { loss, correct };
  }

  async dispose(): Promise<void> {
    publish(new Int32Array(this.layout.ctrl), GO, -1);
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.replica.model.dispose();
    this.replica.optimizer.dispose();
  }
}

/** The worker side: waits for steps until told to stop. */
export function serveReplica(init: WorkerInit, ready: () => void): void {
  const replica = new Replica(init.layout, init.replica, init.seed);
  const ctrl = new Int32Array(init.layout.ctrl);
  ready();
  let last = 0;
  for (;;) {
    Atomics.wait(ctrl, GO, last);
    const step = Atomics.load(ctrl, GO);
    if (step === -1 || Atomics.load(ctrl, FAILED) !== 0) break;
    if (step === last) continue;
    replica.step(step);
    last = step;
  }
}

/** Shared memory for `replicas` replicas of the book's model and batches of up to maxBatch. */
export function sharedLayout(replicas: number, maxBatch: number): SharedLayout {
  const maxShard = Math.ceil(maxBatch / replicas);
  const model = buildModel(0);
  const params = model.countParams();
  model.dispose();
  return {
    replicas,
    maxShard,
    params,
    ctrl: new SharedArrayBuffer(4 * (SHARD + 3 * replicas)),
    images: new SharedArrayBuffer(4 * replicas * maxShard * PIXELS),
    labels: new SharedArrayBuffer(4 * replicas * maxShard),
    grads: new SharedArrayBuffer(4 * replicas * params),
    stats: new SharedArrayBuffer(4 * 2 * replicas),
  };
}

/** Splits a batch into the replicas' shards (sizes differ by at most one) and sets the step's seed. */
export function writeBatch(layout: SharedLayout, images: Float32Array, labels: Int32Array, dropoutSeed: number): void {
  const n = labels.length;
  if (n < layout.replicas || n > layout.maxShard * layout.replicas) {
    throw new Error(`a batch of ${n} does not fit ${layout.replicas} replicas of up to ${layout.maxShard} samples`);
  }
  const ctrl = new Int32Array(layout.ctrl);
  const sharedImages = new Float32Array(layout.images);
  const sharedLabels = new Int32Array(layout.labels);
  let start = 0;
  for (let r = 0; r < layout.replicas; r++) {
    const size = Math.floor(n / layout.replicas) + (r < n % layout.replicas ? 1 : 0);
    sharedImages.set(images.subarray(start * PIXELS, (start + size) * PIXELS), r * layout.maxShard * PIXELS);
    sharedLabels.set(labels.subarray(start, start + size), r * layout.maxShard);
    Atomics.store(ctrl, SHARD + r, size);
    start += size;
  }
  Atomics.store(ctrl, SEED, dropoutSeed | 0);
}
