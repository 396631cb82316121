/**
 * The native kernels' Adam helper (pipeline/native/kernels.c, used by
 * pipeline/ml/parallel-trainer.ts): a thread that waits in adamHelperServe steps the upper part
 * of each variable the stepping thread hands over and gets the new weights written into its own
 * copies; the two meet on a board in shared memory. Run here with a real second thread (a worker)
 * on plain shared arrays: the same bits as one thread alone, the copies equal to the new weights,
 * and a helper of another step or another board never used.
 * Every wait between the two threads is ordered by a flag, none by time.
 */
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import seedrandom from 'seedrandom';
import { beforeAll, describe, expect, it } from 'vitest';
import { nativeKernels, nativeKernelStatus, type NativeKernels } from '../pipeline/tfjs/native-kernels.js';

const ADDON = fileURLToPath(new URL('../pipeline/native/build/Release/cnn_lens_kernels.node', import.meta.url));
// the book's CNN's variables: the large ones split between the threads, the small ones not
const SIZES = [288, 32, 18432, 64, 313600, 100, 1000, 10];
// beta1, 1 - beta1, beta2, 1 - beta2, 1 - accBeta1, 1 - accBeta2, epsilon, -learningRate
const SCALARS = Float32Array.from([0.9, 0.1, 0.999, 0.001, 0.271, 0.00399, 1e-7, -0.001]);
const SCALES = Float32Array.from([0.5, 0.5]);
// control slots: the watch (the step's task), the helper registered, the helper's result
const WATCH = 0;
const REGISTERED = 1;

/** The helper thread: registers its copies for `task`, says so, serves, and posts what serve returned. */
const HELPER = `
const { parentPort, workerData } = require('node:worker_threads');
const kernels = require(workerData.addon);
const ctrl = new Int32Array(workerData.ctrl);
const board = new Int32Array(workerData.board);
const copies = workerData.copies.map((b) => new Float32Array(b));
kernels.adamHelperRegister(board, copies, ctrl, ${WATCH}, workerData.task);
Atomics.store(ctrl, ${REGISTERED}, 1);
Atomics.notify(ctrl, ${REGISTERED});
parentPort.postMessage(kernels.adamHelperServe(board, workerData.timeoutMs));
`;

let native: NativeKernels;

beforeAll(() => {
  const loaded = nativeKernels();
  expect(loaded, nativeKernelStatus()).not.toBeNull();
  native = loaded!;
});

function values(n: number, seed: string, positive = false): Float32Array {
  const rng = seedrandom(seed);
  return Float32Array.from({ length: n }, () => (positive ? rng() * 1e-3 : rng() * 2 - 1));
}

/** How many of a's float32 values differ from b's in their bits (NaN and -0 included). */
function differing(a: Float32Array, b: Float32Array): number {
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  let n = Math.abs(x.length - y.length);
  for (let k = 0; k < Math.min(x.length, y.length); k++) if (x[k] !== y[k]) n++;
  return n;
}

/** One variable's state and its two shards' gradients. */
function variable(n: number, i: number) {
  return { m: values(n, `m${i}`), v: values(n, `v${i}`, true), w: values(n, `w${i}`), grads: [values(n, `g0 ${i}`), values(n, `g1 ${i}`)] };
}

/** A fresh board and control array, the watch at `task`. */
function trainer(task: number): { board: Int32Array; ctrl: Int32Array } {
  const ctrl = new Int32Array(new SharedArrayBuffer(16));
  Atomics.store(ctrl, WATCH, task);
  return { board: new Int32Array(new SharedArrayBuffer(native.adamHelperBoardBytes())), ctrl };
}

/** A helper thread on the board for step `task` (watching ctrl); resolves to what its serve returned. */
async function startHelper(board: Int32Array, ctrl: Int32Array, task: number, copies: SharedArrayBuffer[], timeoutMs = 60_000): Promise<{ served: Promise<number> }> {
  const worker = new Worker(HELPER, { eval: true, workerData: { addon: ADDON, board: board.buffer, ctrl: ctrl.buffer, copies, task, timeoutMs } });
  const served = new Promise<number>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  // registered: from here on the helper waits in serve (or has left it, for the watch or the
  // timeout); the worker ends by itself after it posts
  while (Atomics.load(ctrl, REGISTERED) === 0) Atomics.wait(ctrl, REGISTERED, 0, 100);
  return { served };
}

describe("Adam's step with a helper thread", () => {
  it('takes the upper part of each large variable: the same bits as one thread, and the new weights in its copies', async () => {
    const { board, ctrl } = trainer(7);
    const copies = SIZES.map((n) => new SharedArrayBuffer(4 * n));
    const { served } = await startHelper(board, ctrl, 7, copies);
    const vars = SIZES.map(variable);
    native.adamHelperOpen(board, 7);
    const helped = vars.map(({ m, v, w, grads }, i) => {
      const outs = [0, 1, 2].map(() => new Float32Array(SIZES[i]));
      const used = native.adam(m, v, w, outs[0], outs[1], outs[2], grads, SCALES, SCALARS, i);
      return { used, outs };
    });
    expect(native.adamHelperRelease()).toBe(SIZES.length);
    expect(await served).toBe(SIZES.length);
    vars.forEach(({ m, v, w, grads }, i) => {
      const alone = [0, 1, 2].map(() => new Float32Array(SIZES[i]));
      expect(native.adam(m, v, w, alone[0], alone[1], alone[2], grads, SCALES, SCALARS)).toBe(false);
      expect(helped[i].used, `variable ${i}`).toBe(true);
      for (let k = 0; k < 3; k++) expect(differing(helped[i].outs[k], alone[k]), `variable ${i}, output ${k}`).toBe(0);
      expect(differing(new Float32Array(copies[i]), alone[2]), `variable ${i}'s copy`).toBe(0);
      // the step moved the weights: the copy is not the old ones
      expect(new Float32Array(copies[i]).some((x, k) => x !== w[k])).toBe(true);
    });
  });

  it("is not used by another step's or another board's adam calls, and leaves when its watch moves on, its copies untouched", async () => {
    const { board, ctrl } = trainer(7);
    const copies = SIZES.map((n) => new SharedArrayBuffer(4 * n));
    const { served } = await startHelper(board, ctrl, 7, copies);
    const { m, v, w, grads } = variable(SIZES[4], 4);
    const outs = [0, 1, 2].map(() => new Float32Array(SIZES[4]));
    // step 7 of another trainer (its own board)
    native.adamHelperOpen(trainer(7).board, 7);
    expect(native.adam(m, v, w, outs[0], outs[1], outs[2], grads, SCALES, SCALARS, 4)).toBe(false);
    expect(native.adamHelperRelease()).toBe(-1);
    // step 8 of the same trainer: the helper registered for 7 is not its helper
    native.adamHelperOpen(board, 8);
    expect(native.adam(m, v, w, outs[0], outs[1], outs[2], grads, SCALES, SCALARS, 4)).toBe(false);
    expect(native.adamHelperRelease()).toBe(-1);
    // the trainer moves on: the helper stops waiting without having been released
    Atomics.store(ctrl, WATCH, 8);
    expect(await served).toBe(-1);
    for (const copy of copies) expect(new Float32Array(copy).every((x) => x === 0)).toBe(true);
  });

  it('leaves at once when its step was closed before it registered (the stepping thread failed first)', async () => {
    const { board, ctrl } = trainer(5);
    native.adamHelperOpen(board, 5);
    expect(native.adamHelperRelease()).toBe(-1);
    // the watch stays at 5 and the timeout is long: only the closed step lets it go
    const { served } = await startHelper(board, ctrl, 5, [new SharedArrayBuffer(4 * 16)], 600_000);
    expect(await served).toBe(-1);
  });

  it('leaves after its timeout when no step comes', async () => {
    const { board, ctrl } = trainer(3);
    const { served } = await startHelper(board, ctrl, 3, [new SharedArrayBuffer(4 * 16)], 50);
    expect(await served).toBe(-1);
    // and a step opened after it left runs alone
    native.adamHelperOpen(board, 3);
    expect(native.adamHelperRelease()).toBe(-1);
  });

  it('rejects a board too small, a control array that is not an Int32Array, or a slot outside it, naming the call', () => {
    const { board, ctrl } = trainer(1);
    expect(() => native.adamHelperOpen(new Int32Array(new SharedArrayBuffer(64)), 1)).toThrow(
      'native kernels: adamHelperOpen takes a board: an Int32Array of adamHelperBoardBytes() bytes, 8-aligned',
    );
    expect(() => native.adamHelperRegister(board, [], new Float32Array(4) as unknown as Int32Array, 0, 1)).toThrow(
      'native kernels: adamHelperRegister takes a control Int32Array, a slot in it and a task number from 1',
    );
    expect(() => native.adamHelperRegister(board, [], ctrl, 4, 1)).toThrow('a slot in it');
  });

  it('registers nothing for a model of more than 64 variables (its worker takes the weights through shared memory)', () => {
    const { board, ctrl } = trainer(1);
    expect(native.adamHelperRegister(board, Array.from({ length: 65 }, () => new Float32Array(4)), ctrl, WATCH, 1)).toBe(false);
    // no helper waits: a step opened on that board runs alone
    native.adamHelperOpen(board, 1);
    const n = 8;
    const [m, v, w] = [values(n, 'm'), values(n, 'v', true), values(n, 'w')];
    const outs = [0, 1, 2].map(() => new Float32Array(n));
    expect(native.adam(m, v, w, outs[0], outs[1], outs[2], [values(n, 'g')], Float32Array.from([1]), SCALARS, 0)).toBe(false);
    expect(native.adamHelperRelease()).toBe(-1);
    expect(outs[2].some((x, k) => x !== w[k])).toBe(true);
  });
});
