/**
 * The one place that decides the TensorFlow.js backend. Every other module imports `tf` from
 * here, never a backend package directly.
 */
import * as tf from '@tensorflow/tfjs';
import { createRequire } from 'node:module';
import { BadInputError } from './errors.js';
import type { BackendChoice } from './params.js';
import { registerWasmTrainingKernels } from './wasm-kernels.js';

export { tf };

export interface BackendInfo {
  /** The backend in use: tensorflow, wasm or cpu. */
  name: 'tensorflow' | 'wasm' | 'cpu';
  /** Why it was taken, for the log and run.json. */
  reason: string;
}

const require = createRequire(import.meta.url);
let current: BackendInfo | undefined;

/** Loads @tensorflow/tfjs-node's native binding; returns why it could not, or null on success. */
function loadTensorflowNode(): string | null {
  try {
    require('@tensorflow/tfjs-node');
    return null;
  } catch (err) {
    const msg = (err as Error).message.split('\n')[0];
    return (err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' && msg.includes("'@tensorflow/tfjs-node'")
      ? '@tensorflow/tfjs-node is not installed'
      : `@tensorflow/tfjs-node did not load (${msg})`;
  }
}

async function useWasm(): Promise<void> {
  await import('@tensorflow/tfjs-backend-wasm');
  registerWasmTrainingKernels();
  if (!(await tf.setBackend('wasm'))) throw new Error('the wasm backend failed to initialize');
}

/**
 * Picks the backend once per process. `auto` takes tensorflow (tfjs-node) when its native binding
 * loads, else wasm with the project's training kernels. A second call must ask for the same.
 */
export async function initTf(choice: BackendChoice): Promise<BackendInfo> {
  if (current) return current;
  let info: BackendInfo;
  if (choice === 'tensorflow' || choice === 'auto') {
    const failure = loadTensorflowNode();
    if (failure === null) {
      await tf.setBackend('tensorflow');
      info = { name: 'tensorflow', reason: choice === 'auto' ? 'auto: the tfjs-node binding loaded' : 'asked for' };
    } else if (choice === 'tensorflow') {
      throw new BadInputError(
        `--backend tensorflow: ${failure}. Install it with \`npm install @tensorflow/tfjs-node@4.22.0\` ` +
          '(its install script downloads libtensorflow, which needs network access to storage.googleapis.com), ' +
          'or use --backend auto|wasm.',
      );
    } else {
      await useWasm();
      info = { name: 'wasm', reason: `auto: ${failure}; using wasm with the project's training kernels` };
    }
  } else if (choice === 'wasm') {
    await useWasm();
    info = { name: 'wasm', reason: 'asked for' };
  } else {
    await tf.setBackend('cpu');
    info = { name: 'cpu', reason: 'asked for (pure JS: very slow to train)' };
  }
  await tf.ready();
  current = info;
  return info;
}
