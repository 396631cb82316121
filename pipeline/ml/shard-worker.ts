/** A worker thread of parallel-trainer.ts: computes its shards of every batch. */
import { parentPort, workerData } from 'node:worker_threads';
import { initTf } from '../tfjs/backend.js';
import { serveShards, type WorkerInit } from './parallel-trainer.js';

const port = parentPort;
if (!port) throw new Error('shard-worker.ts runs as a worker thread of parallel-trainer.ts');
const init = workerData as WorkerInit;
try {
  // one thread per shard: XNNPACK's pool would only compete with the other shards
  await initTf('wasm');
  await serveShards(init, () => port.postMessage('ready'));
} catch (err) {
  // before 'ready' the main thread awaits a message; after it, serveShards reports through shared memory
  port.postMessage(`training thread ${init.thread} failed to start: ${(err as Error).message}`);
}
