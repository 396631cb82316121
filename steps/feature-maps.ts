/**
 * The chapter's feature maps: for each conv and pooling layer, a sub-model built with the
 * functional API from the model's inputs to that layer's output, run on the chapter's sample
 * (the first training image, an ankle boot) and on the first test image of each class. The
 * untrained twin's maps of the chapter's sample go beside them for contrast.
 */
import { IMAGE_SIZE } from '../pipeline/catalog/dataset.js';
import { pickSamples, type Sample } from '../pipeline/catalog/samples.js';
import { chapterSample, CLASS_NAMES, type FeatureIndex, type LayerMap } from '../pipeline/catalog/schema.js';
import { defineStep } from '../pipeline/catalog/store.js';

/** Where a sample's input image goes, relative to the feature-maps folder. */
const imageFile = (s: Sample) => `${s.id}/image.npy`;

const argMax = (xs: number[]) => xs.reduce((best, x, i) => (x > xs[best] ? i : best), 0);

export const featureMapsStep = defineStep({
  name: 'feature-maps',
  module: import.meta.url,
  // The maps are the backend's convolutions of the sample.
  usesBackend: true,
  params: (p) => ({ seed: p.seed, ...(p.model ? { imported: true } : {}) }),
  // The model alone (model.json + its shard, not metrics.json) and the dataset cache files.
  inputs: (store) => ({ model: store.model, dataset: store.dataset }),
  outputs: (store) => ({ maps: store.featureMaps }),
  async run({ params, inputs, outputs, log }) {
    // TensorFlow.js loads only when the step runs.
    const { untrainedTwin } = await import('../pipeline/ml/model.js');
    const { mapLayerIndices, predict, saveMaps } = await import('../pipeline/ml/sub-models.js');
    const samples = pickSamples(await inputs.dataset.load());
    const source = inputs.model.modelJson;
    const model = await inputs.model.load();
    let index: FeatureIndex;
    try {
      mapLayerIndices(model, source); // a wrong model fails before anything is written
      for (const s of samples) await outputs.maps.write(imageFile(s), s.pixels, [IMAGE_SIZE, IMAGE_SIZE]);
      const probabilities = predict(model, samples);
      const maps = await saveMaps(model, source, samples, '', outputs.maps);
      const chapter = samples[0];
      const twin = await untrainedTwin(model, params.seed, params.model !== undefined);
      let untrained: LayerMap[];
      try {
        [untrained] = await saveMaps(twin, 'the untrained twin', [chapter], 'untrained/', outputs.maps);
      } finally {
        twin.dispose();
      }
      index = {
        samples: samples.map((s, i) => ({
          id: s.id,
          split: s.split,
          index: s.index,
          label: s.label,
          class_name: CLASS_NAMES.en[s.label],
          image: imageFile(s),
          prediction: argMax(probabilities[i]),
          probabilities: probabilities[i],
          layers: maps[i],
        })),
        untrained: { sample: chapter.id, layers: untrained },
      };
    } finally {
      model.dispose();
    }
    await outputs.maps.index.write(index);

    const right = index.samples.filter((s) => s.prediction === s.label).length;
    const boot = chapterSample(index);
    log.info(
      `feature-maps: ${index.samples.length} samples x ${boot.layers.length} layers (${boot.layers.map((l) => `${l.layer} ${l.shape.join('x')}`).join(', ')}); ` +
        `${right}/${index.samples.length} predicted right; ${boot.id} (${boot.class_name}) -> ${CLASS_NAMES.en[boot.prediction]} ${boot.probabilities[boot.prediction].toFixed(3)}`,
    );
  },
});
