/**
 * The reader's own pictures (--image) through the chapter: each converted as Fashion-MNIST was
 * made, predicted, its feature maps taken with the chapter's functional-API sub-models, and
 * Grad-CAM of the predicted class. The pictures are this step's inputs (inputs/images/, copied
 * there by the entry point), so a new picture re-runs this step, the figures and the report only.
 * A run without pictures gets an empty index at once, without loading the model.
 */
import { IMAGE_SIZE } from '../pipeline/catalog/dataset.js';
import { CLASS_NAMES, type LayerMap, type OwnImage, type OwnImagesIndex } from '../pipeline/catalog/schema.js';
import { defineStep } from '../pipeline/catalog/store.js';
import { BadInputError } from '../pipeline/core/errors.js';
import type { Conversion } from '../pipeline/data/image-convert.js';

/** The longest side of the small colour copy the report shows beside the converted input. */
export const ORIGINAL_SIDE = 56;

const argMax = (xs: number[]) => xs.reduce((best, x, i) => (x > xs[best] ? i : best), 0);

export const ownImagesStep = defineStep({
  name: 'own-images',
  module: import.meta.url,
  // Predictions, maps and gradients are the backend's arithmetic.
  usesBackend: true,
  params: () => ({}),
  // The pictures are an input only when the run has some: a run never given --image has no folder.
  inputs: (store) => ({ model: store.model, images: store.imageInputs.present ? store.imageInputs : undefined }),
  outputs: (store) => ({ images: store.ownImages }),
  async run({ inputs, outputs, log }) {
    const folder = inputs.images;
    const given = folder ? (await folder.read()).images : [];
    if (!folder || given.length === 0) {
      await outputs.images.index.write({ images: [], has_conv: null });
      log.info('own-images: no pictures (give some with --image <file>)');
      return;
    }
    // The decoders load only for a run with pictures.
    const { flattenOnWhite, orient, preview, toFashionMnist, toGrey } = await import('../pipeline/data/image-convert.js');
    const { decodeImage } = await import('../pipeline/data/image-decode.js');
    const pictures: { id: string; pixels: Float32Array; conversion: Conversion; original: string; originalShape: number[] }[] = [];
    for (const [i, source] of given.entries()) {
      const id = `image-${i + 1}`;
      // The bytes that were checked when they were copied (readImage verifies their SHA-256).
      const bytes = await folder.readImage(source);
      let rgba;
      try {
        rgba = flattenOnWhite(orient(decodeImage(bytes, source.format), source.orientation));
      } catch (err) {
        throw new BadInputError(`${folder.dir}/${source.file} (from ${source.name}) cannot be decoded: ${(err as Error).message}; give another picture with --image, or drop it with --no-images`);
      }
      const conversion = toFashionMnist(toGrey(rgba));
      const small = preview(rgba, ORIGINAL_SIDE);
      await outputs.images.write(`${id}/input.npy`, conversion.pixels, [IMAGE_SIZE, IMAGE_SIZE]);
      const originalShape = [small.height, small.width, 3];
      await outputs.images.write(`${id}/original.npy`, small.rgb, originalShape);
      pictures.push({ id, pixels: conversion.pixels, conversion, original: `${id}/original.npy`, originalShape });
    }

    // TensorFlow.js loads only when there is a picture to run.
    const { predict, saveMaps } = await import('../pipeline/ml/sub-models.js');
    const { explain } = await import('../pipeline/ml/grad-cam.js');
    const model = await inputs.model.load();
    let probabilities: number[][];
    let maps: LayerMap[][];
    let attention: ReturnType<typeof explain>;
    try {
      probabilities = predict(model, pictures);
      maps = await saveMaps(model, inputs.model.modelJson, pictures, 'maps/', outputs.images);
      attention = explain(model, pictures.map((p) => p.pixels));
    } finally {
      model.dispose();
    }
    const images: OwnImage[] = [];
    for (const [i, p] of pictures.entries()) {
      const a = attention?.[i];
      if (a) {
        await outputs.images.write(`${p.id}/grad-cam.npy`, a.cam, [IMAGE_SIZE, IMAGE_SIZE]);
        await outputs.images.write(`${p.id}/saliency.npy`, a.saliency, [IMAGE_SIZE, IMAGE_SIZE]);
      }
      const { background, inverted, box, fitted } = p.conversion;
      images.push({
        id: p.id,
        source: given[i],
        input: `${p.id}/input.npy`,
        original: p.original,
        original_shape: p.originalShape,
        conversion: { background, inverted, box, fitted },
        prediction: argMax(probabilities[i]),
        probabilities: probabilities[i],
        layers: maps[i],
        attention: a ? { layer: a.layer, cam: `${p.id}/grad-cam.npy`, saliency: `${p.id}/saliency.npy` } : null,
      });
    }
    const index: OwnImagesIndex = { images, has_conv: attention !== null };
    await outputs.images.index.write(index);
    log.info(
      `own-images: ${images.map((img) => `${img.source.name} -> ${CLASS_NAMES.en[img.prediction]} ${img.probabilities[img.prediction].toFixed(3)}`).join(', ')}` +
        (index.has_conv ? '' : ' (no conv layer: no feature maps or Grad-CAM)'),
    );
  },
});
