/**
 * The functional API at work: one sub-model per conv and pooling layer, from the model's inputs to
 * that layer's output, run on images; their outputs saved as .npy. The feature-maps step runs it
 * on the chapter's samples, the own-images step on the reader's pictures.
 */
import { IMAGE_SHAPE, PIXELS } from '../catalog/dataset.js';
import type { LayerMap } from '../catalog/schema.js';
import { BadInputError } from '../core/errors.js';
import { lastAxisStats } from './stats.js';
import { probabilities } from './trainer.js';
import { tf } from '../tfjs/tf.js';

/** An input image: 28 x 28 floats in [0, 1], and the id its files are saved under. */
export interface MapSample {
  id: string;
  pixels: Float32Array;
}

/** Where the maps go: a step's tensor folder (TensorFolder.write). */
export interface TensorWriter {
  write(relative: string, data: Float32Array, shape: number[]): Promise<void>;
}

const MAP_LAYER_CLASSES = new Set(['Conv2D', 'MaxPooling2D']);

/** The functional-API line that builds the sub-model of layer `i`, exactly as the code runs it. */
export function subModelCode(i: number): string {
  return `tf.model({inputs: model.inputs, outputs: model.layers[${i}].output})`;
}

/**
 * Indices of the conv and pooling layers, the ones whose outputs are feature maps: none for a
 * dense network (an imported chapter-7 model), whose report says so instead of drawing maps.
 */
export function mapLayerIndices(model: tf.LayersModel, source: string): number[] {
  const input = model.inputs[0]?.shape.slice(1).join();
  if (input !== IMAGE_SHAPE.join()) {
    throw new BadInputError(
      `${source} does not take Fashion-MNIST images (its input is ${input ?? 'none'}, expected ${IMAGE_SHAPE.join()}); ` +
        're-create the checkpoint (npm run pipeline -- --from train --force)',
    );
  }
  return model.layers.flatMap((l, i) => (MAP_LAYER_CLASSES.has(l.getClassName()) ? [i] : []));
}

/**
 * Runs each conv/pooling sub-model on the samples and saves one .npy [1, H, W, C] per sample and
 * layer under `<prefix><sample id>/<layer>.npy`; returns the LayerMaps per sample.
 */
export async function saveMaps(model: tf.LayersModel, source: string, samples: MapSample[], prefix: string, folder: TensorWriter): Promise<LayerMap[][]> {
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

function concatPixels(samples: MapSample[]): Float32Array {
  const all = new Float32Array(samples.length * PIXELS);
  samples.forEach((s, i) => all.set(s.pixels, i * PIXELS));
  return all;
}

export function predict(model: tf.LayersModel, samples: MapSample[]): number[][] {
  return probabilities(model, concatPixels(samples), samples.length);
}
