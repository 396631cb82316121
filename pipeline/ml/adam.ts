/**
 * The trainer's Adam: tfjs's AdamOptimizer (same state, same saved weights, same numbers), whose
 * update runs as one fused pass per variable on the wasm backend (pipeline/tfjs/wasm-simd.ts)
 * instead of about twelve kernels. Other backends take tfjs's own update.
 */
import { DEFAULT_LEARNING_RATE } from '../core/params.js';
import { tf } from '../tfjs/tf.js';
import { simdKernels, type WasmModuleHolder } from '../tfjs/wasm-simd.js';
import type { WasmHeapBackend } from '../tfjs/wasm-kernels/heap.js';

/** AdamOptimizer's state, which its typings keep private. */
interface AdamState {
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  accumulatedFirstMoment: { originalName: string; variable: tf.Variable }[];
  accumulatedSecondMoment: { originalName: string; variable: tf.Variable }[];
}

const f32 = Math.fround;

class FusedAdam extends tf.AdamOptimizer {
  override applyGradients(variableGradients: Parameters<tf.AdamOptimizer['applyGradients']>[0]): void {
    const named: [string, tf.Tensor | null][] = Array.isArray(variableGradients)
      ? variableGradients.map((v) => [v.name, v.tensor])
      : Object.entries(variableGradients);
    const float32 = (name: string, g: tf.Tensor | null) => g == null || (g.dtype === 'float32' && tf.engine().registeredVariables[name]?.dtype === 'float32');
    const state = this as unknown as AdamState;
    // tfjs keeps the moments by position in the list of gradients: a list that changed would pair
    // a variable with another one's moments, which tfjs's ops may broadcast but a fused pass over
    // memory must never do
    const paired = (name: string, i: number) => {
      const size = tf.engine().registeredVariables[name]?.size;
      return [state.accumulatedFirstMoment[i], state.accumulatedSecondMoment[i]].every((s) => s == null || s.variable.size === size);
    };
    const fusable = named.every(([name, g], i) => float32(name, g) && (g == null || g.size === tf.engine().registeredVariables[name]?.size) && paired(name, i));
    if (tf.getBackend() !== 'wasm' || !fusable) return super.applyGradients(variableGradients);
    const backend = tf.backend() as unknown as WasmHeapBackend & WasmModuleHolder;
    const kernel = simdKernels(backend).adam;
    // the scalars tfjs makes: beta and 1 - beta (computed in float64), -learningRate, epsilon, and
    // 1 - accBeta (computed in float32)
    const scalars = [
      f32(this.beta1),
      f32(1 - this.beta1),
      f32(this.beta2),
      f32(1 - this.beta2),
      f32(1 - state.accBeta1.dataSync()[0]),
      f32(1 - state.accBeta2.dataSync()[0]),
      f32(this.epsilon),
      f32(-this.learningRate),
    ];
    named.forEach(([name, gradient], i) => {
      const value = tf.engine().registeredVariables[name];
      state.accumulatedFirstMoment[i] ??= { originalName: `${name}/m`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
      state.accumulatedSecondMoment[i] ??= { originalName: `${name}/v`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
      if (gradient == null) return;
      const variables = [state.accumulatedFirstMoment[i].variable, state.accumulatedSecondMoment[i].variable, value];
      // New buffers, not in place: the backend caches packed weights by tensor (its conv and matMul operators).
      const outs = variables.map((v) => backend.makeOutput(v.shape, 'float32'));
      // Views are taken after the allocations above: growing the wasm memory detaches older views.
      const [m, v, w, g, m2, v2, w2] = [...variables, gradient, ...outs].map((t) => backend.typedArrayFromHeap(t) as Float32Array);
      const simd = g.length - (g.length % 4);
      kernel(m.byteOffset, v.byteOffset, w.byteOffset, g.byteOffset, m2.byteOffset, v2.byteOffset, w2.byteOffset, simd, ...scalars);
      for (let k = simd; k < g.length; k++) adamScalar(scalars, k, m, v, w, g, m2, v2, w2);
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
