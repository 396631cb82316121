/**
 * tfjs-backend-wasm's threaded build (XNNPACK on a pthread pool) in Node, where the package turns
 * it off (WASM_HAS_MULTITHREAD_SUPPORT is false under Node: tensorflow/tfjs#3830; the fix,
 * tfjs#8059, was never merged). The emscripten glue it ships supports worker_threads already; what
 * stops it is the package's own loader, which hands the pthread workers Blob URLs that Node's
 * Worker cannot open. This shim does that loader's work with paths instead, without patching
 * node_modules:
 *
 * - the pthread worker is a data: URL module that evaluates the package's worker script (the
 *   string wasmWorkerContents) with a real `require`, as the browser evaluates the Blob;
 * - the workers load the glue from its file (mainScriptUrlOrBlob), not from a Blob;
 * - the wasm caps the pool at half of emscripten_num_logical_cores() (which it reads from
 *   os.cpus(): hyper-threads) and at 8 (the workers the glue starts): its import is answered with
 *   twice the count asked for, so that the pool has exactly `threads` threads on any machine.
 *
 * The result is the package's own BackendWasm over the threaded module: every kernel, the
 * project's included, runs unchanged; XNNPACK's convolutions and matMuls split their output tiles
 * over the pool. Only tested against the version pinned in package.json (THREADED_VERSION).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { MAX_THREADS } from '../core/params.js';
import { tf } from './tf.js';

/** The package version whose glue this shim was written against; any other is refused. */
export const THREADED_VERSION = '4.22.0';

const require = createRequire(import.meta.url);
const PACKAGE = '@tensorflow/tfjs-backend-wasm';

/** The part of the emscripten module BackendWasm and this shim use. */
interface ThreadedModule {
  cwrap(name: string, returns: string | null, args: string[]): (...args: number[]) => number;
  tfjs?: Record<string, unknown>;
  PThread: { unusedWorkers: { terminate(): unknown }[]; runningWorkers: { unref(): unknown }[] };
}

interface FactoryConfig {
  locateFile(path: string, prefix: string): string | URL;
  mainScriptUrlOrBlob: string;
  instantiateWasm(info: WebAssembly.Imports & { env: Record<string, unknown> }, receive: (i: WebAssembly.Instance, m: WebAssembly.Module) => void): WebAssembly.Exports;
}

/** What the package's CommonJS entry exports that this shim needs. */
interface WasmPackage {
  BackendWasm: new (module: ThreadedModule) => tf.KernelBackend;
  setThreadsCount(n: number): void;
  getThreadsCount(): number;
  version_wasm: string;
}

/** A worker that runs the package's pthread worker script, given `require` as a CommonJS file would have it. */
function workerUrl(workerScript: string): URL {
  const source =
    `import { createRequire } from 'node:module';\n` +
    `const require = createRequire(${JSON.stringify(workerScript)});\n` +
    `const { wasmWorkerContents } = require(${JSON.stringify(workerScript)});\n` +
    // The script is a template literal in the package: its "\n" escapes became real line breaks
    // inside string literals, which the package's loader escapes back before evaluating it.
    `new Function('require', '__filename', wasmWorkerContents.replace(/\\n/g, '\\\\n'))(require, ${JSON.stringify(workerScript)});\n`;
  return new URL(`data:text/javascript,${encodeURIComponent(source)}`);
}

/**
 * Makes tf.setBackend('wasm') start the threaded build with `threads` threads in XNNPACK's pool
 * (the calling thread counts as one). Call after importing the package and before setBackend.
 */
export function useThreadedWasm(threads: number): void {
  if (!Number.isInteger(threads) || threads < 2 || threads > MAX_THREADS) {
    throw new Error(`the threaded wasm build takes 2 to ${MAX_THREADS} threads, not ${threads}`);
  }
  const pkg = require(PACKAGE) as WasmPackage;
  if (pkg.version_wasm !== THREADED_VERSION) {
    throw new Error(`${PACKAGE} ${pkg.version_wasm}: the threads shim (pipeline/tfjs/wasm-threads.ts) is written for ${THREADED_VERSION}; use --threads 1`);
  }
  const glue = require.resolve(`${PACKAGE}/wasm-out/tfjs-backend-wasm-threaded-simd.js`);
  const binary = glue.replace(/\.js$/, '.wasm');
  const worker = workerUrl(require.resolve(`${PACKAGE}/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js`));
  const factory = require(glue) as (config: FactoryConfig) => Promise<ThreadedModule>;

  tf.removeBackend('wasm');
  tf.registerBackend(
    'wasm',
    async () => {
      pkg.setThreadsCount(threads);
      const compiled = await WebAssembly.compile(readFileSync(binary));
      const module = await factory({
        locateFile: (path, prefix) => (path.endsWith('.worker.js') ? worker : path.endsWith('.wasm') ? binary : prefix + path),
        mainScriptUrlOrBlob: glue,
        // Synchronous, so that a failure rejects the factory's promise (the glue catches it)
        // instead of leaving it pending.
        instantiateWasm(info, receive) {
          info.env.emscripten_num_logical_cores = () => 2 * threads;
          const instance = new WebAssembly.Instance(compiled, info);
          receive(instance, compiled);
          return instance.exports;
        },
      });
      // BackendWasm expects what the package's loader adds to the module.
      module.tfjs = {
        init: module.cwrap('init', null, []),
        initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
        getThreadsCount: module.cwrap('get_threads_count', 'number', []),
        registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
        disposeData: module.cwrap('dispose_data', null, ['number']),
        dispose: module.cwrap('dispose', null, []),
      };
      const backend = new pkg.BackendWasm(module);
      // The glue started MAX_THREADS workers; the pool took threads - 1 of them. The rest would
      // only hold memory (a V8 isolate each) for the life of the process.
      for (const idle of module.PThread.unusedWorkers.splice(0)) idle.terminate();
      // The glue refs a worker while it runs a pthread, and the pool's pthreads run (asleep) for
      // the life of the process: without this a script that ends without process.exit never exits.
      for (const running of module.PThread.runningWorkers) running.unref();
      return backend;
    },
    2,
  );
}

/** The threads in XNNPACK's pool of the running wasm backend (1 for the single-threaded build). */
export function wasmThreads(): number {
  return (require(PACKAGE) as WasmPackage).getThreadsCount();
}
