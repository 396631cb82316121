/**
 * The trainer's Adam: tfjs's AdamOptimizer (same state, same saved weights, same numbers), whose
 * update runs as one fused pass per variable on the wasm backend (pipeline/tfjs/wasm-simd.ts)
 * instead of about twelve kernels. Other backends take tfjs's own update. With the native kernels
 * (native-kernels.ts), applyShardMean also folds the mean of a batch's shard gradients into that
 * pass, reading a worker's gradients where they arrived (shared memory): the same bits as the
 * trainer's tf.mul/tf.add mean followed by the update. A worker waiting as the native kernels'
 * Adam helper (parallel-trainer.ts) takes part of each variable's pass, to the same bits.
 */
import { DEFAULT_LEARNING_RATE } from '../core/params.js';
import { tf } from '../tfjs/tf.js';
import { nativeKernels } from '../tfjs/native-kernels.js';
import { simdKernels, type WasmModuleHolder } from '../tfjs/wasm-simd.js';
import { heapViews, type WasmHeapBackend } from '../tfjs/wasm-kernels/heap.js';

/** AdamOptimizer's state, which its typings keep private. */
interface AdamState {
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  accumulatedFirstMoment: { originalName: string; variable: tf.Variable }[];
  accumulatedSecondMoment: { originalName: string; variable: tf.Variable }[];
}

const f32 = Math.fround;

/** A shard's gradients for applyShardMean: tensors on this backend, or float32 arrays (shared memory), one per variable. */
export interface ShardGradientList {
  grads: (tf.Tensor | Float32Array)[];
  /** its weight in the mean: its share of the batch */
  scale: number;
}

class FusedAdam extends tf.AdamOptimizer {
  override applyGradients(variableGradients: Parameters<tf.AdamOptimizer['applyGradients']>[0]): void {
    const named: [string, tf.Tensor | null][] = Array.isArray(variableGradients)
      ? variableGradients.map((v) => [v.name, v.tensor])
      : Object.entries(variableGradients);
    if (tf.getBackend() !== 'wasm' || !this.fusable(named.map(([name, g]) => [name, g == null ? null : { dtype: g.dtype, size: g.size }]))) {
      return super.applyGradients(variableGradients);
    }
    const backend = tf.backend() as unknown as WasmHeapBackend & WasmModuleHolder;
    const kernel = simdKernels(backend).adam;
    const scalars = this.scalars();
    this.update(
      named.map(([name]) => name),
      (i, variables, outs) => {
        const gradient = named[i][1];
        if (gradient == null) return false;
        // after the allocations of `outs` (heapViews)
        const [m, v, w, g, m2, v2, w2] = heapViews(backend, ...variables, gradient, ...outs);
        const simd = g.length - (g.length % 4);
        kernel(m.byteOffset, v.byteOffset, w.byteOffset, g.byteOffset, m2.byteOffset, v2.byteOffset, w2.byteOffset, simd, ...scalars);
        for (let k = simd; k < g.length; k++) adamScalar(scalars, k, m, v, w, g, m2, v2, w2);
        return true;
      },
    );
  }

  /**
   * One step on the mean of the shards' gradients (sum of grads * scale, in shard order) on the
   * native kernels; false, having done nothing, where they cannot take it (then the caller takes
   * the mean with tf ops and calls applyGradients).
   */
  applyShardMean(names: string[], shards: ShardGradientList[]): boolean {
    const native = nativeKernels();
    if (!native || tf.getBackend() !== 'wasm' || shards.length === 0 || shards.length > 8) return false;
    const sizeOf = (g: tf.Tensor | Float32Array) => (g instanceof Float32Array ? g.length : g.size);
    const dtypeOk = (g: tf.Tensor | Float32Array) => g instanceof Float32Array || g.dtype === 'float32';
    const sameShape = names.every((_, i) => shards.every((s) => dtypeOk(s.grads[i]) && sizeOf(s.grads[i]) === sizeOf(shards[0].grads[i])));
    if (!sameShape || !this.fusable(names.map((name, i) => [name, { dtype: 'float32', size: sizeOf(shards[0].grads[i]) }]))) return false;
    const backend = tf.backend() as unknown as WasmHeapBackend;
    // the scalars tf.mul(g, size / n) makes: float32
    const scales = Float32Array.from(shards.map((s) => s.scale));
    const scalars = Float32Array.from(this.scalars());
    this.update(names, (i, variables, outs) => {
      const [m, v, w, m2, v2, w2] = heapViews(backend, ...variables, ...outs);
      const grads = shards.map((s) => {
        const g = s.grads[i];
        return g instanceof Float32Array ? g : heapViews(backend, g)[0];
      });
      native.adam(m, v, w, m2, v2, w2, grads, scales, scalars, i);
      return true;
    });
    return true;
  }

  /** Whether a fused pass can take these gradients (float32, one per variable, each the size of its variable and its moments). */
  private fusable(named: [string, { dtype: string; size: number } | null][]): boolean {
    const state = this as unknown as AdamState;
    const variable = (name: string) => tf.engine().registeredVariables[name];
    // tfjs keeps the moments by position in the list of gradients: a list that changed would pair
    // a variable with another one's moments, which tfjs's ops may broadcast but a fused pass over
    // memory must never do
    const paired = (name: string, i: number) =>
      [state.accumulatedFirstMoment[i], state.accumulatedSecondMoment[i]].every((s) => s == null || s.variable.size === variable(name)?.size);
    return named.every(
      ([name, g], i) =>
        variable(name)?.dtype === 'float32' && (g == null || (g.dtype === 'float32' && g.size === variable(name)?.size)) && paired(name, i),
    );
  }

  /**
   * The scalars tfjs makes: beta and 1 - beta (computed in float64), 1 - accBeta (computed in
   * float32), epsilon, -learningRate.
   */
  private scalars(): number[] {
    const state = this as unknown as AdamState;
    return [
      f32(this.beta1),
      f32(1 - this.beta1),
      f32(this.beta2),
      f32(1 - this.beta2),
      f32(1 - state.accBeta1.dataSync()[0]),
      f32(1 - state.accBeta2.dataSync()[0]),
      f32(this.epsilon),
      f32(-this.learningRate),
    ];
  }

  /**
   * The step around a fused pass: creates missing moments, gives `pass` each variable's [m, v, w]
   * and fresh outputs [m2, v2, w2] to fill (it returns false for a variable without a gradient),
   * assigns them, and advances the bias corrections.
   */
  private update(names: string[], pass: (i: number, variables: tf.Variable[], outs: tf.TensorInfo[]) => boolean): void {
    const state = this as unknown as AdamState;
    const backend = tf.backend() as unknown as WasmHeapBackend;
    names.forEach((name, i) => {
      const value = tf.engine().registeredVariables[name];
      state.accumulatedFirstMoment[i] ??= { originalName: `${name}/m`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
      state.accumulatedSecondMoment[i] ??= { originalName: `${name}/v`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
      const variables = [state.accumulatedFirstMoment[i].variable, state.accumulatedSecondMoment[i].variable, value];
      // New buffers, not in place: the backend caches packed weights by tensor (its conv and matMul
      // operators), and tensors share buffers (wasm-kernels/identity.ts).
      const outs = variables.map((v) => backend.makeOutput(v.shape, 'float32'));
      if (!pass(i, variables, outs)) {
        for (const out of outs) tf.engine().makeTensorFromTensorInfo(out).dispose();
        return;
      }
      variables.forEach((variable, j) => {
        const fresh = tf.engine().makeTensorFromTensorInfo(outs[j]);
        variable.assign(fresh);
        fresh.dispose();
      });
    });
    tf.tidy(() => {
      state.accBeta1.assign(tf.mul(state.accBeta1, this.beta1));
      state.accBeta2.assign(tf.mul(state.accBeta2, this.beta2));
    });
    this.incrementIterations();
  }
}

/** applyShardMean of the trainer's Adam (adam() below); false for any other optimizer. */
export function applyShardMean(optimizer: tf.Optimizer, names: string[], shards: ShardGradientList[]): boolean {
  // not instanceof: tfjs's optimizers answer instanceof by their fields, so every Adam is a FusedAdam to it
  const fused = optimizer as Partial<Pick<FusedAdam, 'applyShardMean'>>;
  return typeof fused.applyShardMean === 'function' && fused.applyShardMean(names, shards);
}

/** The kernel's arithmetic for one element (the last count % 4), rounded to float32 at every operation like it. */
function adamScalar(s: number[], k: number, ...[m, v, w, g, m2, v2, w2]: Float32Array[]): void {
  const [beta1, rest1, beta2, rest2, bias1, bias2, epsilon, step] = s;
  const mk = f32(f32(m[k] * beta1) + f32(g[k] * rest1));
  const vk = f32(f32(v[k] * beta2) + f32(f32(g[k] * g[k]) * rest2));
  m2[k] = mk;
  v2[k] = vk;
  w2[k] = f32(f32(f32(mk / bias1) / f32(f32(Math.sqrt(f32(vk / bias2))) + epsilon)) * step) + w[k];
}

/** Adam with Keras's defaults (beta1 0.9, beta2 0.999, the backend's epsilon), as tf.train.adam. */
export function adam(learningRate = DEFAULT_LEARNING_RATE): tf.AdamOptimizer {
  return new FusedAdam(learningRate, 0.9, 0.999);
}
