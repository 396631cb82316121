/**
 * What pattern does each filter want? Activation maximisation (steps/filter-patterns/ascent.ts):
 * for every filter of every conv layer, of the checkpoint's model and of its untrained twin, the
 * 28 x 28 input that most excites it, found by seeded gradient ascent. A model without a conv layer
 * (a dense network) gets an index that says so, with no layers.
 */
import { IMAGE_SIZE } from '../pipeline/catalog/dataset.js';
import type { FilterPatternsIndex, PatternLayer } from '../pipeline/catalog/schema.js';
import { defineStep } from '../pipeline/catalog/store.js';
import type { Params } from '../pipeline/core/params.js';

/**
 * The seeded start: uniform noise over the whole pixel range. Full contrast, not a faint noise
 * around grey: it has edges everywhere, so a filter that fires on none of it nor on the input
 * found for it is dead (ascent.ts isDead); faint noise left first-layer edge detectors silent.
 */
export const START_RANGE = { low: 0, high: 1 } as const;

/**
 * The ascent's settings per profile. A step of conv2d_1's ascent (64 inputs through conv2d and its
 * pooling, forward and backward) costs 15-50 ms on wasm, and both models are ascended: the book's
 * 200 steps took 15 s in all here on a busy machine (README), the quick profile's 50 a quarter of
 * that. The book's trained model beats its best test image on every live filter after 50 steps
 * already (test/filter-patterns.test.ts), by a wider margin after 200; the step size decays
 * linearly to 0, so each input settles by the last step. An imported model (--model) is a reader's
 * trained model: it gets the book's settings.
 */
export const PATTERN_SETTINGS = {
  book: { steps: 200, stepSize: 0.2, penalty: 0.001 },
  quick: { steps: 50, stepSize: 0.2, penalty: 0.001 },
} as const;

export function settingsOf(p: Params): keyof typeof PATTERN_SETTINGS {
  return p.model ? 'book' : p.profile;
}

const fileOf = (layer: string, kind: 'trained' | 'untrained') => `${layer}/${kind}.npy`;

export const filterPatternsStep = defineStep({
  name: 'filter-patterns',
  module: import.meta.url,
  // The ascent is the backend's arithmetic, step after step.
  usesBackend: true,
  params: (p) => {
    const of = settingsOf(p);
    return { seed: p.seed, settings: of, ...PATTERN_SETTINGS[of], ...(p.model ? { imported: true } : {}) };
  },
  // The model alone: the ascent starts from seeded noise, not from the dataset.
  inputs: (store) => ({ model: store.model }),
  outputs: (store) => ({ patterns: store.filterPatterns }),
  async run({ params, inputs, outputs, log }) {
    const started = performance.now();
    // TensorFlow.js loads only when the step runs.
    const { untrainedTwin } = await import('../pipeline/ml/model.js');
    const { mapLayerIndices } = await import('../pipeline/ml/sub-models.js');
    const { ascendLayer, convLayerIndices } = await import('./filter-patterns/ascent.js');
    const of = settingsOf(params);
    const settings = { ...PATTERN_SETTINGS[of], seed: params.seed, start: START_RANGE };
    const model = await inputs.model.load();
    const layers: PatternLayer[] = [];
    try {
      mapLayerIndices(model, inputs.model.modelJson); // a model that does not take Fashion-MNIST images is bad input
      const convs = convLayerIndices(model);
      const twin = convs.length ? await untrainedTwin(model, params.seed, params.model !== undefined) : null;
      try {
        for (const i of convs) {
          const trained = ascendLayer(model, i, settings);
          // The twin has the model's architecture: its conv layers sit at the same indices.
          const untrained = ascendLayer(twin!, i, settings);
          const shape = [trained.filters.length, IMAGE_SIZE, IMAGE_SIZE];
          await outputs.patterns.write(fileOf(trained.layer, 'trained'), trained.inputs, shape);
          await outputs.patterns.write(fileOf(trained.layer, 'untrained'), untrained.inputs, shape);
          layers.push({
            layer: trained.layer,
            reads: trained.reads,
            shape,
            trained: { file: fileOf(trained.layer, 'trained'), filters: trained.filters },
            untrained: { file: fileOf(trained.layer, 'untrained'), filters: untrained.filters },
          });
        }
      } finally {
        twin?.dispose();
      }
    } finally {
      model.dispose();
    }
    const index: FilterPatternsIndex = {
      settings_of: of,
      steps: settings.steps,
      step_size: settings.stepSize,
      penalty: settings.penalty,
      seed: settings.seed,
      start: { ...START_RANGE },
      layers,
    };
    await outputs.patterns.index.write(index);

    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    if (layers.length === 0) {
      log.info('filter-patterns: the model has no conv layer, so there is no filter to find a pattern for');
      return;
    }
    const dead = (kind: 'trained' | 'untrained') =>
      layers.map((l) => `${l.layer} ${l[kind].filters.filter((f) => f.dead).length}/${l[kind].filters.length}`).join(', ');
    log.info(`filter-patterns: ${settings.steps} steps (${of} settings) per layer for ${layers.map((l) => l.layer).join(', ')}; dead filters: trained ${dead('trained')}, untrained ${dead('untrained')}; in ${seconds} s`);
  },
});
