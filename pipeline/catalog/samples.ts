/**
 * The images the chapter's sections look at: the chapter's sample (train image 0, an ankle boot)
 * and the first test image of each class. The feature-maps and attention steps both show them,
 * so both pick them here.
 */
import { BadInputError } from '../core/errors.js';
import { PIXELS, type ImageSet } from './dataset.js';
import { CHAPTER_SAMPLE, CLASS_NAMES } from './schema.js';

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
