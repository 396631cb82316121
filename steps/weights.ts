/**
 * The chapter's weight visualization, as data: every kernel and bias of the best model and of its
 * untrained twin (the same architecture with the run's seed, never trained) as .npy, and
 * stats.json with their statistics, histograms on shared bins and the Glorot-uniform limit that
 * explains the untrained distribution.
 */
import { BadInputError } from '../pipeline/core/errors.js';
import type { NpyArray } from '../pipeline/catalog/npy.js';
import type { TensorStats, WeightStats } from '../pipeline/catalog/schema.js';
import { histogram, lastAxisStats, percentiles, sharedEdges, summarize } from '../pipeline/ml/stats.js';
import { defineStep } from '../pipeline/catalog/store.js';
import type { tf } from '../pipeline/tfjs/tf.js';

export const PERCENTILES = [1, 5, 25, 50, 75, 95, 99];
const TENSORS = ['kernel', 'bias'] as const;
type TensorName = (typeof TENSORS)[number];
export type ModelKind = 'trained' | 'untrained';

export interface LayerTensors {
  layer: string;
  className: string;
  kernel: NpyArray;
  bias: NpyArray;
}

/** Kernel and bias of every layer that has weights, copied out of the model, in layer order. */
export function layerTensors(model: tf.LayersModel, source: string): LayerTensors[] {
  const out: LayerTensors[] = [];
  for (const layer of model.layers) {
    if (layer.weights.length === 0) continue;
    // Variable names get a suffix when a second model with the same layer names exists
    // ("conv2d/kernel_1"); the original name is the stable one.
    const pick = (name: TensorName): NpyArray => {
      const w = layer.weights.find((v) => v.originalName.split('/').pop() === name);
      if (!w) throw new BadInputError(`${source}: layer ${layer.name} has no ${name}; expected the book's CNN (conv and dense layers with bias)`);
      // read() returns the variable itself: copy its values, never dispose it.
      return { data: Float32Array.from(w.read().dataSync() as Float32Array), shape: [...w.shape] as number[] };
    };
    out.push({ layer: layer.name, className: layer.getClassName(), kernel: pick('kernel'), bias: pick('bias') });
  }
  return out;
}

/** Path of a tensor file relative to the weights folder, as stats.json records it. */
export function weightFile(kind: ModelKind, layer: string, tensor: TensorName): string {
  return `${kind}/${layer}/${tensor}.npy`;
}

export function tensorStats(file: string, t: NpyArray, edges: number[], perFilter: boolean): TensorStats {
  const { count, mean, std, min, max } = summarize(t.data);
  const ps = percentiles(t.data, PERCENTILES);
  const stats: TensorStats = {
    file,
    shape: t.shape,
    count,
    mean,
    std,
    min,
    max,
    percentiles: Object.fromEntries(PERCENTILES.map((p, i) => [`p${p}`, ps[i]])),
    histogram: { edges, counts: histogram(t.data, edges) },
  };
  if (perFilter) stats.filters = lastAxisStats(t.data, t.shape).map(({ l2, mean, std }) => ({ l2, mean, std }));
  return stats;
}

/** Glorot-uniform limit of a conv kernel [kh, kw, cin, cout], as Keras and tfjs compute it. */
export function glorot(kernelShape: number[]): WeightStats['glorot'][string] {
  const [kh, kw, cin, cout] = kernelShape;
  const fanIn = kh * kw * cin;
  const fanOut = kh * kw * cout;
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  return { fan_in: fanIn, fan_out: fanOut, limit, std: limit / Math.sqrt(3) };
}

/** Pairs the two models layer by layer; any difference in architecture is bad input. */
function pairLayers(trained: LayerTensors[], untrained: LayerTensors[], source: string): [LayerTensors, LayerTensors][] {
  const describe = (ls: LayerTensors[]) =>
    ls.map((l) => `${l.layer}${JSON.stringify(l.kernel.shape)}`).join(', ');
  const same =
    trained.length === untrained.length &&
    trained.every(
      (t, i) =>
        t.layer === untrained[i].layer &&
        t.kernel.shape.join() === untrained[i].kernel.shape.join() &&
        t.bias.shape.join() === untrained[i].bias.shape.join(),
    );
  if (!same) {
    throw new BadInputError(
      `${source} is not the book's CNN: its layers with weights are ${describe(trained)}, expected ${describe(untrained)}; ` +
        're-create the checkpoint (npm run pipeline -- --from train --force)',
    );
  }
  return trained.map((t, i) => [t, untrained[i]]);
}

export const weightsStep = defineStep({
  name: 'weights',
  module: import.meta.url,
  // The untrained twin comes from TensorFlow.js's seeded initializers.
  packages: ['@tensorflow/tfjs'],
  // An imported model's twin is built from its own config (pipeline/ml/model.ts untrainedTwin).
  params: (p) => ({ seed: p.seed, ...(p.model ? { imported: true } : {}) }),
  // The model alone (model.json + its shard): a change to metrics.json must not redo this step.
  inputs: (store) => ({ model: store.model }),
  outputs: (store) => ({ weights: store.weights }),
  async run({ params, inputs, outputs, log }) {
    const source = inputs.model.modelJson;
    // TensorFlow.js loads only when the step runs.
    const { untrainedTwin } = await import('../pipeline/ml/model.js');
    const trainedModel = await inputs.model.load();
    const untrainedModel = await untrainedTwin(trainedModel, params.seed, params.model !== undefined);
    let pairs: [LayerTensors, LayerTensors][];
    try {
      pairs = pairLayers(layerTensors(trainedModel, source), layerTensors(untrainedModel, 'the untrained twin'), source);
    } finally {
      trainedModel.dispose();
      untrainedModel.dispose();
    }

    const stats: WeightStats = { trained: {}, untrained: {}, glorot: {}, untrained_seed: params.seed };
    for (const [trained, untrained] of pairs) {
      stats.trained[trained.layer] = {} as Record<TensorName, TensorStats>;
      stats.untrained[trained.layer] = {} as Record<TensorName, TensorStats>;
      for (const name of TENSORS) {
        const edges = sharedEdges(trained[name].data, untrained[name].data);
        for (const [kind, lt] of [['trained', trained], ['untrained', untrained]] as const) {
          const file = weightFile(kind, lt.layer, name);
          await outputs.weights.write(file, lt[name].data, lt[name].shape);
          stats[kind][lt.layer][name] = tensorStats(file, lt[name], edges, name === 'kernel');
        }
      }
      if (trained.className === 'Conv2D') stats.glorot[trained.layer] = glorot(trained.kernel.shape);
    }
    await outputs.weights.index.write(stats);

    const first = pairs[0][0].layer;
    const k = (kind: ModelKind) => stats[kind][first].kernel;
    log.info(
      `weights: ${pairs.length} layers; ${first} kernel trained mean ${k('trained').mean.toFixed(4)} std ${k('trained').std.toFixed(4)}, ` +
        `untrained mean ${k('untrained').mean.toFixed(4)} std ${k('untrained').std.toFixed(4)} (Glorot std ${stats.glorot[first]?.std.toFixed(4) ?? 'n/a'})`,
    );
  },
});
