/**
 * The chapter's feature maps: for each conv and pooling layer, a sub-model built with the
 * functional API from the model's inputs to that layer's output, run on the chapter's sample
 * (the first training image, an ankle boot) and on the first test image of each class. The
 * untrained twin's maps of the chapter's sample go beside them for contrast.
 */
import { IMAGE_SHAPE, IMAGE_SIZE, PIXELS, type ImageSet } from '../pipeline/catalog/dataset.js';
import { BadInputError } from '../pipeline/core/errors.js';
import { buildModel } from '../pipeline/ml/model.js';
import { CHAPTER_SAMPLE, CLASS_NAMES, type FeatureIndex, type LayerMap } from '../pipeline/catalog/schema.js';
import { lastAxisStats } from '../pipeline/ml/stats.js';
import { defineStep, type RunStore } from '../pipeline/catalog/store.js';
import { tf } from '../pipeline/tfjs/tf.js';

const MAP_LAYER_CLASSES = new Set(['Conv2D', 'MaxPooling2D']);

export interface Sample {
  id: string;
  split: 'train' | 'test';
  index: number;
  label: number;
  /** 28 x 28, scaled to [0, 1] as the model was trained */
  pixels: Float32Array;
}

function sample(split: ImageSet, name: 'train' | 'test', index: number): Sample {
  return {
    id: `${name}-${index}`,
    split: name,
    index,
    label: split.labels[index],
    pixels: Float32Array.from(split.images.subarray(index * PIXELS, (index + 1) * PIXELS), (v) => v / 255),
  };
}

/** The chapter's sample (CHAPTER_SAMPLE, train image 0) first, then the first test image of each class, by class. */
export function pickSamples(data: { train: ImageSet; test: ImageSet }): Sample[] {
  const firstOfClass = CLASS_NAMES.en.map((name, label) => {
    const index = data.test.labels.indexOf(label);
    if (index < 0) throw new BadInputError(`the test set has no image of class ${label} (${name}); re-download the dataset`);
    return index;
  });
  const { split, index } = CHAPTER_SAMPLE;
  return [sample(data[split], split, index), ...firstOfClass.map((i) => sample(data.test, 'test', i))];
}

/** Where a sample's input image goes, relative to the feature-maps folder. */
const imageFile = (s: Sample) => `${s.id}/image.npy`;

/** The functional-API line that builds the sub-model of layer `i`, exactly as the code runs it. */
export function subModelCode(i: number): string {
  return `tf.model({inputs: model.inputs, outputs: model.layers[${i}].output})`;
}

/** Indices of the conv and pooling layers, the ones whose outputs are feature maps. */
export function mapLayerIndices(model: tf.LayersModel, source: string): number[] {
  const indices = model.layers.flatMap((l, i) => (MAP_LAYER_CLASSES.has(l.getClassName()) ? [i] : []));
  const input = model.inputs[0]?.shape.slice(1).join();
  if (indices.length === 0 || input !== IMAGE_SHAPE.join()) {
    throw new BadInputError(
      `${source} is not the book's CNN (input ${input ?? 'none'}, ${indices.length} conv/pooling layers); ` +
        're-create the checkpoint (npm run pipeline -- --from train --force)',
    );
  }
  return indices;
}

/**
 * Runs each conv/pooling sub-model on the samples and saves one .npy [1, H, W, C] per sample and
 * layer under `<prefix><sample id>/<layer>.npy`; returns the LayerMaps per sample.
 */
async function saveMaps(model: tf.LayersModel, source: string, samples: Sample[], prefix: string, folder: RunStore['featureMaps']): Promise<LayerMap[][]> {
  const maps: LayerMap[][] = samples.map(() => []);
  const batch = tf.tensor4d(concatPixels(samples), [samples.length, ...IMAGE_SHAPE]);
  try {
    for (const i of mapLayerIndices(model, source)) {
      const layer = model.layers[i];
      // The chapter's functional API. The sub-model shares the model's layers, so it must not be
      // disposed on its own (that would dispose the shared weights); the model's dispose frees them.
      const sub = tf.model({ inputs: model.inputs, outputs: layer.output as tf.SymbolicTensor });
      const out = sub.predict(batch) as tf.Tensor4D;
      const [, h, w, c] = out.shape;
      const values = out.dataSync() as Float32Array;
      out.dispose();
      const size = h * w * c;
      for (const [s, smp] of samples.entries()) {
        const data = values.slice(s * size, (s + 1) * size);
        const shape = [1, h, w, c];
        const file = `${prefix}${smp.id}/${layer.name}.npy`;
        await folder.write(file, data, shape);
        const channels = lastAxisStats(data, shape).map(({ min, max, mean }) => ({ min, max, mean }));
        maps[s].push({ layer: layer.name, file, shape, channels, code: subModelCode(i) });
      }
    }
  } finally {
    batch.dispose();
  }
  return maps;
}

function concatPixels(samples: Sample[]): Float32Array {
  const all = new Float32Array(samples.length * PIXELS);
  samples.forEach((s, i) => all.set(s.pixels, i * PIXELS));
  return all;
}

function predict(model: tf.LayersModel, samples: Sample[]): number[][] {
  const probs = tf.tidy(() => model.predict(tf.tensor4d(concatPixels(samples), [samples.length, ...IMAGE_SHAPE])) as tf.Tensor2D);
  const rows = probs.arraySync();
  probs.dispose();
  return rows;
}

const argMax = (xs: number[]) => xs.reduce((best, x, i) => (x > xs[best] ? i : best), 0);

export const featureMapsStep = defineStep({
  name: 'feature-maps',
  module: import.meta.url,
  // The maps are the backend's convolutions of the sample.
  usesBackend: true,
  params: (p) => ({ seed: p.seed }),
  // The model alone (model.json + its shard, not metrics.json) and the dataset cache files.
  inputs: (store) => ({ model: store.model, dataset: store.dataset }),
  outputs: (store) => ({ maps: store.featureMaps }),
  async run({ params, inputs, outputs, log }) {
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
      const twin = buildModel(params.seed);
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
    const boot = index.samples[0];
    log.info(
      `feature-maps: ${index.samples.length} samples x ${boot.layers.length} layers (${boot.layers.map((l) => `${l.layer} ${l.shape.join('x')}`).join(', ')}); ` +
        `${right}/${index.samples.length} predicted right; ${boot.id} (${boot.class_name}) -> ${CLASS_NAMES.en[boot.prediction]} ${boot.probabilities[boot.prediction].toFixed(3)}`,
    );
  },
});
