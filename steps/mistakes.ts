/**
 * What the model gets wrong: the first n test images (all 10,000 for the book profile and for an
 * imported model, the first 1,000 for the quick profile; --map-points) through the checkpoint
 * model, the most confident mistakes among them, and a map of the hidden Dense layer (the book's
 * 100-unit `dense`): its outputs for those images projected to 2-D by a seeded UMAP.
 */
import { IMAGE_SIZE, PIXELS } from '../pipeline/catalog/dataset.js';
import { CLASS_NAMES, type Mistake, type MistakesIndex, type MistakesMap } from '../pipeline/catalog/schema.js';
import { defineStep } from '../pipeline/catalog/store.js';
import type { Params } from '../pipeline/core/params.js';
import { derivedSeed, gatherImages } from '../pipeline/data/split.js';
import { findMistakes } from './mistakes/select.js';

/** The test set's size: the book profile and imported models predict and map all of it. */
export const TEST_IMAGES = 10_000;
/**
 * The quick profile's share: UMAP in umap-js costs about 1.3 ms of one core per point (its graph in
 * string-keyed maps, its layout in plain arrays), and the test suite runs the quick profile in
 * every pipeline it makes; 1,000 points keep the step within a few seconds.
 */
export const QUICK_MAP_POINTS = 1_000;
/** --map-points' bounds: UMAP needs more points than neighbours, and the list needs mistakes to show. */
export const MAP_POINTS_RANGE = [100, TEST_IMAGES] as const;
/** How many of the most confident mistakes the index lists and the report shows (6 rows of 4). */
export const MISTAKES_SHOWN = 24;

/**
 * The layout's settings, chosen for time: umap-js spends it in its graph (string-keyed maps, in
 * proportion to the neighbours) and in the layout (epochs x edges x (1 + negative samples)). For
 * the book's 10,000 points, UMAP's defaults (15 neighbours, 5 negative samples) with 100 epochs
 * took 20 s of one core here, these 13 s (measured on a loaded machine), and draw the same islands.
 * 100 epochs instead of umap-js's 200: the islands are in place by then. A minimum distance of 0.1
 * is UMAP's default.
 */
export const MAP_SETTINGS = { nNeighbors: 10, nEpochs: 100, negativeSampleRate: 3, minDist: 0.1 } as const;

/** The run's --map-points, or its default: 1,000 for the quick profile, all 10,000 otherwise. */
export function mapPoints(p: Params): number {
  return p.mapPoints ?? (p.model === undefined && p.profile === 'quick' ? QUICK_MAP_POINTS : TEST_IMAGES);
}

/** Where a mistake's input image goes, relative to the mistakes folder. */
const imageFile = (index: number) => `images/test-${index}.npy`;

export const mistakesStep = defineStep({
  name: 'mistakes',
  module: import.meta.url,
  // The probabilities and the hidden layer's outputs are the backend's arithmetic.
  usesBackend: true,
  params: (p) => ({ seed: p.seed, mapPoints: mapPoints(p) }),
  inputs: (store) => ({ model: store.model, dataset: store.dataset }),
  outputs: (store) => ({ mistakes: store.mistakes }),
  async run({ params, inputs, outputs, log }) {
    // TensorFlow.js and umap-js load only when the step runs.
    const { mapLayerIndices } = await import('../pipeline/ml/sub-models.js');
    const { hiddenDenseLayer, predictTestSet, twoOutputCode } = await import('./mistakes/predict.js');
    const { project } = await import('./mistakes/project.js');
    const data = await inputs.dataset.load();
    const n = Math.min(mapPoints(params), data.test.count);
    const images = gatherImages(data.test.images, Array.from({ length: n }, (_, i) => i));
    const labels = data.test.labels.subarray(0, n);
    const folder = outputs.mistakes;
    const model = await inputs.model.load();
    let index: MistakesIndex;
    try {
      mapLayerIndices(model, inputs.model.modelJson); // a model that does not take Fashion-MNIST images fails here, before anything is written
      const hidden = hiddenDenseLayer(model);
      const predicted = predictTestSet(model, hidden, images, n);
      const { ranked, confusion } = findMistakes(predicted.probabilities, predicted.classes, labels);
      const top: Mistake[] = ranked.slice(0, MISTAKES_SHOWN).map((m, i) => ({
        rank: i + 1,
        index: m.index,
        label: m.label,
        class_name: CLASS_NAMES.en[m.label],
        prediction: m.prediction,
        probability: m.probability,
        probabilities: Array.from(predicted.probabilities.subarray(m.index * predicted.classes, (m.index + 1) * predicted.classes)),
        image: imageFile(m.index),
      }));
      for (const m of top) await folder.write(m.image, images.slice(m.index * PIXELS, (m.index + 1) * PIXELS), [IMAGE_SIZE, IMAGE_SIZE]);
      const probabilities = { file: 'probabilities.npy', shape: [n, predicted.classes] };
      await folder.write(probabilities.file, predicted.probabilities, probabilities.shape);
      const labelFile = { file: 'labels.npy', shape: [n] };
      await folder.write(labelFile.file, Float32Array.from(labels), labelFile.shape);

      let map: MistakesMap | null = null;
      if (hidden && predicted.hidden) {
        const seed = derivedSeed(params.seed, 'mistakes-map');
        const started = performance.now();
        const coords = project(predicted.hidden, n, predicted.width, { ...MAP_SETTINGS, seed });
        const seconds = (performance.now() - started) / 1000;
        map = {
          layer: hidden.name,
          layer_index: model.layers.indexOf(hidden),
          units: predicted.width,
          code: twoOutputCode(model.layers.indexOf(hidden)),
          coords: { file: 'map.npy', shape: [n, 2] },
          points: n,
          n_neighbors: MAP_SETTINGS.nNeighbors,
          n_epochs: MAP_SETTINGS.nEpochs,
          negative_sample_rate: MAP_SETTINGS.negativeSampleRate,
          min_dist: MAP_SETTINGS.minDist,
          seed,
          seconds,
        };
        await folder.write(map.coords.file, coords, map.coords.shape);
      }
      index = { test_images: n, mistakes: ranked.length, top, confusion, probabilities, labels: labelFile, map };
    } finally {
      model.dispose();
    }
    await folder.index.write(index);

    const first = index.top[0];
    log.info(
      `mistakes: ${index.mistakes} of the first ${n} test images` +
        (first ? `; most confident: #${first.index} ${first.class_name} -> ${CLASS_NAMES.en[first.prediction]} ${first.probability.toFixed(3)}` : '') +
        (index.map ? `; map of ${index.map.layer} (${index.map.units} values) for ${n} points in ${index.map.seconds.toFixed(1)} s` : '; no hidden Dense layer, no map'),
    );
  },
});
