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

/** One sample image of feature-maps/index.json and the maps of every conv and pooling layer. */
export const FeatureSampleSchema = loose({
  id: v.string(),
  split: v.picklist(['train', 'test']),
  index: int(),
  label: v.pipe(int(), v.maxValue(CLASSES - 1)),
  class_name: v.string(),
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
