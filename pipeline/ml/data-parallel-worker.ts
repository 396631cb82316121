/** A worker thread holding one replica for data-parallel.ts. */
import { parentPort, workerData } from 'node:worker_threads';
import { serveReplica, type WorkerInit } from './data-parallel.js';
import { initTf } from '../tfjs/backend.js';

const port = parentPort;
if (!port) throw new Error('data-parallel-worker.ts runs as a worker thread of data-parallel.ts');
const init = workerData as WorkerInit;
let ready = false;
try {
  await initTf('wasm');
  serveReplica(init, () => {
    ready = true;
    port.postMessage('ready');
  });
} catch (err) {
  const why = `replica ${init.replica} failed: ${(err as Error).message}`;
  // before 'ready' the main thread awaits a message; after it, it only sees the failure flag
  if (ready) console.error(`data-parallel: ${why}`);
  else port.postMessage(why);
}
