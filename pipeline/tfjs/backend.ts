/**
 * The one place that decides the TensorFlow.js backend and registers the project's wasm training
 * kernels. Only the entry points (and the data-parallel worker) start a backend; the modules that
 * compute import `tf` from ./tf.ts. Steps whose numbers depend on the backend get this module's
 * code (the kernels included) in their fingerprint through the runner (BACKEND_CODE).
 */
import { createRequire } from 'node:module';
import { BadInputError } from '../core/errors.js';
import type { BackendChoice } from '../core/params.js';
import { nativeKernelStatus } from './native-kernels.js';

/** This module, for the fingerprints of the steps that run TensorFlow.js. */
export const BACKEND_CODE = import.meta.url;
/** The packages whose versions decide what the backend computes (tfjs-node when installed). */
export const BACKEND_PACKAGES = ['@tensorflow/tfjs', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-node'] as const;

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

// TensorFlow.js takes most of a second to import: only a step that runs it pays for that, never
// a re-run whose steps are all up to date.
async function useWasm(): Promise<void> {
  const { tf } = await import('./tf.js');
  await import('@tensorflow/tfjs-backend-wasm');
  const { registerWasmTrainingKernels } = await import('./wasm-kernels.js');
  registerWasmTrainingKernels();
  if (!(await tf.setBackend('wasm'))) throw new Error('the wasm backend failed to initialize');
}

/**
 * Decides the backend without starting it (cheap: the runner fingerprints with it before it knows
 * whether any step needs TensorFlow.js). `auto` takes tensorflow (tfjs-node) when its native
 * binding loads, else wasm with the project's training kernels.
 */
export function resolveBackend(choice: BackendChoice): BackendInfo {
  if (choice === 'wasm') return { name: 'wasm', reason: `asked for; ${nativeKernelStatus()}` };
  if (choice === 'cpu') return { name: 'cpu', reason: 'asked for (pure JS: very slow to train)' };
  const failure = loadTensorflowNode();
  if (failure === null) return { name: 'tensorflow', reason: choice === 'auto' ? 'auto: the tfjs-node binding loaded' : 'asked for' };
  if (choice === 'tensorflow') {
    throw new BadInputError(
      `--backend tensorflow: ${failure}. Install it with \`npm install @tensorflow/tfjs-node@4.22.0\` ` +
        '(its install script downloads libtensorflow, which needs network access to storage.googleapis.com), ' +
        'or use --backend auto|wasm.',
    );
  }
  return { name: 'wasm', reason: `auto: ${failure}; using wasm with the project's training kernels; ${nativeKernelStatus()}` };
}

/**
 * Starts the backend `resolveBackend` picks, once per process. wasm is the package's
 * single-threaded build: more cores train more shards of a batch at once, each thread with a
 * backend of its own (pipeline/ml/parallel-trainer.ts), which measured faster than XNNPACK's
 * thread pool (its threads wait for each other at every kernel). Its products and convolutions
 * run on the native kernels where they are built (native-kernels.ts), with XNNPACK's bits.
 */
export async function initTf(choice: BackendChoice): Promise<BackendInfo> {
  if (current) return current;
  const info = resolveBackend(choice);
  const { tf } = await import('./tf.js');
  if (info.name === 'wasm') await useWasm();
  else if (!(await tf.setBackend(info.name))) throw new Error(`the ${info.name} backend failed to initialize`);
  await tf.ready();
  current = info;
  return info;
}
