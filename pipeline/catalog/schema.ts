/**
 * Shapes of the JSON artifacts steps hand to each other (see README "Artifacts"). Steps only
 * communicate through these files, so these schemas are the contract between them: every JSON
 * artifact is validated against its schema when read (core/read-artifact.ts), and each type below is
 * derived from its schema, never kept by hand beside it.
 *
 * Objects require their known keys and accept unknown extra keys (a newer release may add some);
 * the extra keys are kept in the parsed value, but the types name only the known ones. Numbers
 * are finite (JSON writes NaN and Infinity as null, which is rejected); counts, sizes and indices
 * are integers.
 */
import * as v from 'valibot';
import { dict, int, loose, nonNegative, num, shape } from '../core/schema-kit.js';

export const CLASS_NAMES = {
  en: ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'],
  ko: ['티셔츠', '바지', '스웨터', '드레스', '코트', '샌달', '셔츠', '스니커즈', '가방', '앵클 부츠'],
} as const;

const CLASSES = CLASS_NAMES.en.length;

// train/history.json

/** train/history.json: one row per finished epoch, epoch numbers from 1. */
export const HistoryRowSchema = loose({
  epoch: int(1),
  loss: num(),
  accuracy: num(),
  val_loss: num(),
  val_accuracy: num(),
  seconds: nonNegative(),
  samples_per_s: nonNegative(),
});
export type HistoryRow = v.InferOutput<typeof HistoryRowSchema>;

export const HistorySchema = loose({
  rows: v.pipe(v.array(HistoryRowSchema), v.minLength(1)),
  /** Epoch (from 1) whose weights early stopping restored. */
  best_epoch: int(1),
  /** True when training ended by early stopping rather than the epoch limit. */
  stopped_early: v.boolean(),
});
export type History = v.InferOutput<typeof HistorySchema>;

// checkpoint/metrics.json

const EvaluationSchema = loose({ loss: num(), accuracy: num(), count: int() });

/** How many test images' probabilities metrics.json keeps (t10k 0..n-1), to compare runs and imports image by image. */
export const FIRST_TEST_IMAGES = 10;

/**
 * checkpoint/metrics.json. A model imported with --model has no training here: no best epoch, no
 * epoch count, and no validation figures (the seeded validation split overlaps what it was trained on).
 */
export const MetricsSchema = loose({
  best_epoch: v.optional(int(1)),
  epochs_run: v.optional(int(1)),
  val: v.optional(EvaluationSchema),
  test: EvaluationSchema,
  /** softmax outputs for test images 0..FIRST_TEST_IMAGES-1 (absent in runs made before it was added) */
  first_test_probabilities: v.optional(v.array(v.pipe(v.array(num()), v.length(CLASSES)))),
  /** confusion[true][predicted] counts on the test set (10 x 10). */
  confusion: v.pipe(v.array(v.pipe(v.array(int()), v.length(CLASSES))), v.length(CLASSES)),
  /** Per class: test accuracy (recall) of that class. */
  per_class_accuracy: v.pipe(v.array(num()), v.length(CLASSES)),
});
export type Metrics = v.InferOutput<typeof MetricsSchema>;

// weights/stats.json

export const TensorStatsSchema = loose({
  /** e.g. "trained/conv2d/kernel.npy", relative to the weights folder */
  file: v.string(),
  shape: shape(),
  count: int(),
  mean: num(),
  std: num(),
  min: num(),
  max: num(),
  /** keys "p1","p5","p25","p50","p75","p95","p99" */
  percentiles: dict(num()),
  /** Bin edges (length bins + 1), shared by the trained and untrained tensor of the same name. */
  histogram: loose({ edges: v.array(num()), counts: v.array(int()) }),
  /** Per output filter (last axis), for kernels: L2 norm, mean, std. */
  filters: v.optional(v.array(loose({ l2: num(), mean: num(), std: num() }))),
});
export type TensorStats = v.InferOutput<typeof TensorStatsSchema>;

/** A layer's weights: its kernel and its bias. */
const LayerTensorsSchema = loose({ kernel: TensorStatsSchema, bias: TensorStatsSchema });

/** weights/stats.json */
export const WeightStatsSchema = loose({
  /** layer name -> { kernel, bias } for the trained (best) and the untrained model */
  trained: dict(LayerTensorsSchema),
  untrained: dict(LayerTensorsSchema),
  /** Per conv layer: fan_in, fan_out, Glorot-uniform limit sqrt(6/(fan_in+fan_out)) and its std limit/sqrt(3). */
  glorot: dict(loose({ fan_in: int(1), fan_out: int(1), limit: num(), std: num() })),
  untrained_seed: v.pipe(v.number(), v.integer()),
});
export type WeightStats = v.InferOutput<typeof WeightStatsSchema>;

// feature-maps/index.json

export const LayerMapSchema = loose({
  layer: v.string(),
  /** relative to the feature-maps folder, e.g. "boot/conv2d.npy" */
  file: v.string(),
  shape: shape(),
  channels: v.array(loose({ min: num(), max: num(), mean: num() })),
  /** The functional-API code that built the sub-model, shown in the report. */
  code: v.string(),
});
export type LayerMap = v.InferOutput<typeof LayerMapSchema>;

/** Which image a sample is: the fields feature-maps/ and attention/ name their samples by. */
const SAMPLE_ENTRIES = {
  id: v.string(),
  split: v.picklist(['train', 'test']),
  index: int(),
  label: v.pipe(int(), v.maxValue(CLASSES - 1)),
  class_name: v.string(),
};

/** One sample image of feature-maps/index.json and the maps of every conv and pooling layer. */
export const FeatureSampleSchema = loose({
  ...SAMPLE_ENTRIES,
  /** relative path of the input image as .npy [28, 28] scaled to [0, 1] */
  image: v.string(),
  prediction: v.pipe(int(), v.maxValue(CLASSES - 1)),
  probabilities: v.pipe(v.array(num()), v.length(CLASSES)),
  /** empty for a model without conv or pooling layers (an imported dense network) */
  layers: v.array(LayerMapSchema),
});
export type FeatureSample = v.InferOutput<typeof FeatureSampleSchema>;

/** feature-maps/index.json */
export const FeatureIndexSchema = loose({
  samples: v.array(FeatureSampleSchema),
  /** The untrained twin's conv2d maps of the chapter's sample, for contrast. */
  untrained: loose({ sample: v.string(), layers: v.array(LayerMapSchema) }),
});
export type FeatureIndex = v.InferOutput<typeof FeatureIndexSchema>;

/** The chapter's sample: the first training image (an ankle boot), the one the chapter's feature maps show. */
export const CHAPTER_SAMPLE = { split: 'train', index: 0 } as const;

/**
 * The chapter's sample in feature-maps/index.json: the one the untrained twin ran on, else the
 * first (feature-maps writes it first). What the report, the figures and the diff all show.
 */
export function chapterSample(index: FeatureIndex): FeatureSample {
  return index.samples.find((s) => s.id === index.untrained.sample) ?? index.samples[0];
}

// attention/index.json

/** One sample of attention/index.json: where the model looks when it classifies it. */
export const AttentionSampleSchema = loose({
  ...SAMPLE_ENTRIES,
  /** relative .npy paths, each [28, 28] in [0, 1]: the input, Grad-CAM of the predicted class, input-gradient saliency */
  image: v.string(),
  cam: v.string(),
  saliency: v.string(),
  prediction: v.pipe(int(), v.maxValue(CLASSES - 1)),
  /** the model's output for the prediction */
  probability: num(),
  probabilities: v.pipe(v.array(num()), v.length(CLASSES)),
  /** the share of the image's pixels that are not background (pixel > 0) */
  object_share: num(),
  /** the share of Grad-CAM's mass (its sum) on those pixels; null when Grad-CAM is zero everywhere */
  cam_on_object: v.nullable(num()),
});
export type AttentionSample = v.InferOutput<typeof AttentionSampleSchema>;

/** attention/index.json (pipeline/ml/grad-cam.ts computes it). */
export const AttentionIndexSchema = loose({
  /** the conv layer Grad-CAM used: the last on the way to the output; null for a model without one (then no samples) */
  layer: v.nullable(v.string()),
  /** what both maps differentiate: the class's log-odds from the pre-softmax logits, or the model's output itself */
  score: v.nullable(v.picklist(['log-odds', 'output'])),
  /** the chapter's sample first, then the first test image of each class (as feature-maps/) */
  samples: v.array(AttentionSampleSchema),
});
export type AttentionIndex = v.InferOutput<typeof AttentionIndexSchema>;

// mistakes/index.json

/** A tensor of a step folder: its path relative to the folder and its shape. */
const TensorFileSchema = loose({ file: v.string(), shape: shape() });

/** One of the most confident mistakes: a test image whose predicted class is not its label. */
export const MistakeSchema = loose({
  /** 1 = the most confident */
  rank: int(1),
  /** index in the test set (t10k) */
  index: int(),
  label: v.pipe(int(), v.maxValue(CLASSES - 1)),
  class_name: v.string(),
  prediction: v.pipe(int(), v.maxValue(CLASSES - 1)),
  /** the model's output for the predicted class: what the list is sorted by */
  probability: num(),
  probabilities: v.pipe(v.array(num()), v.length(CLASSES)),
  /** relative .npy path of the input, [28, 28] in [0, 1] */
  image: v.string(),
});
export type Mistake = v.InferOutput<typeof MistakeSchema>;

/** The map: the hidden Dense layer's outputs of the predicted test images, projected to 2-D by UMAP. */
export const MistakesMapSchema = loose({
  /** the last Dense layer before the output layer, by name and index in model.layers */
  layer: v.string(),
  layer_index: int(),
  /** values per image in its output */
  units: int(1),
  /** the functional-API line that built the model giving both outputs */
  code: v.string(),
  /** the coordinates, [points, 2]: row i is test image i */
  coords: TensorFileSchema,
  points: int(1),
  n_neighbors: int(1),
  n_epochs: int(1),
  negative_sample_rate: int(1),
  min_dist: num(),
  /** the seed of the UMAP layout, derived from the run's */
  seed: int(),
  /** wall time of the projection (neighbours, graph, layout) */
  seconds: nonNegative(),
});
export type MistakesMap = v.InferOutput<typeof MistakesMapSchema>;

/** mistakes/index.json */
export const MistakesIndexSchema = loose({
  /** how many test images were predicted: the first n of the test set (the run's --map-points) */
  test_images: int(1),
  /** mistakes among them (prediction != label) */
  mistakes: int(),
  /** the most confident mistakes, by probability (then index), at most MISTAKES_SHOWN */
  top: v.array(MistakeSchema),
  /** confusion[true][predicted] of the mistakes (the diagonal is 0) */
  confusion: v.pipe(v.array(v.pipe(v.array(int()), v.length(CLASSES))), v.length(CLASSES)),
  /** [test_images, classes]: the softmax outputs; [test_images]: the labels (class indices as floats) */
  probabilities: TensorFileSchema,
  labels: TensorFileSchema,
  /** null for a model without a hidden Dense layer (its only Dense layer is the output) */
  map: v.nullable(MistakesMapSchema),
});
export type MistakesIndex = v.InferOutput<typeof MistakesIndexSchema>;

// filter-patterns/index.json

/** One filter's outcome of the ascent (steps/filter-patterns/ascent.ts). */
export const PatternFilterSchema = loose({
  /** mean over positions of the pre-activation (the conv's output before its ReLU) at the found input: what the ascent maximised */
  mean: num(),
  /** the largest pre-activation at any position at the found input */
  max: num(),
  /** the mean and the largest pre-activation at the seeded start */
  start_mean: num(),
  start_max: num(),
  /** fires nowhere (pre-activation <= 0 at every position) both at the seeded start and at the found input */
  dead: v.boolean(),
});
export type PatternFilter = v.InferOutput<typeof PatternFilterSchema>;

/** One model's patterns of a conv layer: the .npy [filters, 28, 28] (relative to filter-patterns/) and each filter's outcome. */
const PatternSetSchema = loose({ file: v.string(), filters: v.array(PatternFilterSchema) });

export const PatternLayerSchema = loose({
  layer: v.string(),
  /** the layer whose output it reads; null when it reads the image (then it is linear in the pixels) */
  reads: v.nullable(v.string()),
  /** [filters, 28, 28] */
  shape: shape(),
  trained: PatternSetSchema,
  untrained: PatternSetSchema,
});
export type PatternLayer = v.InferOutput<typeof PatternLayerSchema>;

/** filter-patterns/index.json: the ascent's settings (tied to the profile) and, per conv layer, the inputs that excite each filter most. */
export const FilterPatternsIndexSchema = loose({
  /** the profile whose settings were used; an imported model (--model) takes the book's */
  settings_of: v.picklist(['book', 'quick']),
  steps: int(1),
  /** the first step's size (pixels per unit RMS of the normalised gradient); it decays linearly to 0 */
  step_size: num(),
  /** λ of the penalty λ · mean(x²) */
  penalty: num(),
  seed: v.pipe(v.number(), v.integer()),
  /** the seeded start: uniform noise in [low, high] */
  start: loose({ low: num(), high: num() }),
  /** in model order; empty for a model without a conv layer */
  layers: v.array(PatternLayerSchema),
});
export type FilterPatternsIndex = v.InferOutput<typeof FilterPatternsIndexSchema>;

// figures/index.json

/** What a figure shows; the report picks figures by kind (and sample/layer), never by file name. */
export const FigureKindSchema = v.picklist([
  'model',
  'weight-histograms',
  'kernels',
  'learning-curves',
  'input',
  'feature-maps',
  'class-sample',
  'confusion',
  'per-class-accuracy',
  // filter-patterns: per conv layer, the input that excites each filter most, trained beside untrained
  'filter-patterns',
  'attention',
  // mistakes: the most confident mistakes' images, and the map of the hidden Dense layer
  'mistakes',
  'mistakes-map',
  // own-images: a reader's picture (original, converted input, Grad-CAM), its prediction, its maps
  'own-image',
  'own-image-prediction',
  'own-image-maps',
]);
export type FigureKind = v.InferOutput<typeof FigureKindSchema>;

/** One figure: `<name>.vl.json` (Vega-Lite spec), `<name>.svg`, `<name>.png` in the figures folder. */
export const FigureEntrySchema = loose({
  name: v.string(),
  kind: FigureKindSchema,
  title: v.string(),
  /** feature-map figures: the sample id of feature-maps/index.json */
  sample: v.optional(v.string()),
  /** per-layer figures: the layer name */
  layer: v.optional(v.string()),
  /** size of the SVG in CSS pixels; the PNG is twice that */
  width: nonNegative(),
  height: nonNegative(),
  bytes: loose({ spec: int(), svg: int(), png: int() }),
});
/**
 * One figure's index entry. Generic in its kind: the diff writes figures of its own kinds
 * (`FigureEntry<DiffFigureKind>`) the same way; figures/index.json holds `FigureEntry` (FigureKind).
 */
export type FigureEntry<K extends string = FigureKind> = Omit<v.InferOutput<typeof FigureEntrySchema>, 'kind'> & {
  /** what the figure shows */
  kind: K;
};

/** figures/index.json */
export const FigureIndexSchema = loose({
  figures: v.array(FigureEntrySchema),
});
export type FigureIndex = v.InferOutput<typeof FigureIndexSchema>;

// inputs/images/index.json (--image)

/** One picture given with --image, as copied into the run folder (inputs/images/<file>). */
export const ImageInputSchema = loose({
  /** the copy's name in inputs/images/, e.g. "1-boot.png" */
  file: v.string(),
  /** the name of the file it was copied from, without its folder (the run stays relocatable) */
  name: v.string(),
  format: v.picklist(['png', 'jpeg']),
  /** as the header says (as stored), checked before the copy */
  width: int(1),
  height: int(1),
  /** EXIF orientation 1-8 (a JPEG's camera's "rotate me"), applied before the conversion; 1 for a PNG */
  orientation: v.pipe(int(1), v.maxValue(8)),
  bytes: int(1),
  sha256: v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/)),
});
export type ImageInput = v.InferOutput<typeof ImageInputSchema>;

/** inputs/images/index.json: the run's pictures, in the order given. */
export const ImageInputsSchema = loose({ images: v.array(ImageInputSchema) });
export type ImageInputs = v.InferOutput<typeof ImageInputsSchema>;

// own-images/index.json

/** One of the reader's pictures through the chapter: the converted input, the prediction, the maps, Grad-CAM. */
export const OwnImageSchema = loose({
  /** "image-1", ...: the folder of its tensors and the figures' sample */
  id: v.string(),
  /** the picture it was made from: inputs/images/<file> */
  source: ImageInputSchema,
  /** relative to own-images/: the converted input as .npy [28, 28] in [0, 1] */
  input: v.string(),
  /** relative to own-images/: a small copy of the picture as .npy [h, w, 3], RGB in [0, 1] */
  original: v.string(),
  original_shape: shape(),
  conversion: loose({
    /** the border pixels' mean grey level, 0..255 */
    background: num(),
    /** negated because the background was light */
    inverted: v.boolean(),
    /** the trimmed box in the picture's pixels; null for a blank picture */
    box: v.nullable(loose({ x: int(), y: int(), width: int(1), height: int(1) })),
    /** the box's size inside the 28 x 28 input */
    fitted: loose({ width: int(), height: int() }),
  }),
  prediction: v.pipe(int(), v.maxValue(CLASSES - 1)),
  probabilities: v.pipe(v.array(num()), v.length(CLASSES)),
  /** every conv and pooling layer's maps; empty for a model without them */
  layers: v.array(LayerMapSchema),
  /** Grad-CAM of the predicted class and input saliency, each .npy [28, 28] in [0, 1]; null for a model without a conv layer */
  attention: v.nullable(loose({ layer: v.string(), cam: v.string(), saliency: v.string() })),
});
export type OwnImage = v.InferOutput<typeof OwnImageSchema>;

/** own-images/index.json: empty when the run has no pictures (no --image). */
export const OwnImagesIndexSchema = loose({
  images: v.array(OwnImageSchema),
  /** whether the model has conv layers (maps, Grad-CAM); null when there were no pictures to run it on */
  has_conv: v.nullable(v.boolean()),
});
export type OwnImagesIndex = v.InferOutput<typeof OwnImagesIndexSchema>;
