/**
 * Shapes of the JSON artifacts steps hand to each other (see README "Artifacts"). Steps only
 * communicate through these files, so these types are the contract between them.
 */

export const CLASS_NAMES = {
  en: ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'],
  ko: ['티셔츠', '바지', '스웨터', '드레스', '코트', '샌달', '셔츠', '스니커즈', '가방', '앵클 부츠'],
} as const;

/** train/history.json: one row per finished epoch, epoch numbers from 1. */
export interface HistoryRow {
  epoch: number;
  loss: number;
  accuracy: number;
  val_loss: number;
  val_accuracy: number;
  seconds: number;
  samples_per_s: number;
}
export interface History {
  rows: HistoryRow[];
  /** Epoch (from 1) whose weights early stopping restored. */
  best_epoch: number;
  /** True when training ended by early stopping rather than the epoch limit. */
  stopped_early: boolean;
}

/** checkpoint/metrics.json */
export interface Metrics {
  best_epoch: number;
  epochs_run: number;
  val: { loss: number; accuracy: number; count: number };
  test: { loss: number; accuracy: number; count: number };
  /** confusion[true][predicted] counts on the test set (10 x 10). */
  confusion: number[][];
  /** Per class: test accuracy (recall) of that class. */
  per_class_accuracy: number[];
}

export interface TensorStats {
  /** e.g. "trained/conv2d/kernel.npy", relative to the weights folder */
  file: string;
  shape: number[];
  count: number;
  mean: number;
  std: number;
  min: number;
  max: number;
  /** keys "p1","p5","p25","p50","p75","p95","p99" */
  percentiles: Record<string, number>;
  /** Bin edges (length bins + 1), shared by the trained and untrained tensor of the same name. */
  histogram: { edges: number[]; counts: number[] };
  /** Per output filter (last axis), for kernels: L2 norm, mean, std. */
  filters?: { l2: number; mean: number; std: number }[];
}

/** weights/stats.json */
export interface WeightStats {
  /** layer name -> { kernel, bias } for the trained (best) and the untrained model */
  trained: Record<string, Record<'kernel' | 'bias', TensorStats>>;
  untrained: Record<string, Record<'kernel' | 'bias', TensorStats>>;
  /** Per conv layer: fan_in, fan_out, Glorot-uniform limit sqrt(6/(fan_in+fan_out)) and its std limit/sqrt(3). */
  glorot: Record<string, { fan_in: number; fan_out: number; limit: number; std: number }>;
  untrained_seed: number;
}

export interface LayerMap {
  layer: string;
  /** relative to the feature-maps folder, e.g. "boot/conv2d.npy" */
  file: string;
  shape: number[];
  channels: { min: number; max: number; mean: number }[];
  /** The functional-API code that built the sub-model, shown in the report. */
  code: string;
}

/** feature-maps/index.json */
export interface FeatureIndex {
  samples: {
    id: string;
    split: 'train' | 'test';
    index: number;
    label: number;
    class_name: string;
    /** relative path of the input image as .npy [28, 28] scaled to [0, 1] */
    image: string;
    prediction: number;
    probabilities: number[];
    layers: LayerMap[];
  }[];
  /** The untrained twin's conv2d maps of the chapter's sample, for contrast. */
  untrained: { sample: string; layers: LayerMap[] };
}

/** What a figure shows; the report picks figures by kind (and sample/layer), never by file name. */
export type FigureKind =
  | 'model'
  | 'weight-histograms'
  | 'kernels'
  | 'learning-curves'
  | 'input'
  | 'feature-maps'
  | 'class-sample'
  | 'confusion'
  | 'per-class-accuracy';

/** One figure: `<name>.vl.json` (Vega-Lite spec), `<name>.svg`, `<name>.png` in the figures folder. */
export interface FigureEntry<K extends string = FigureKind> {
  name: string;
  kind: K;
  title: string;
  /** feature-map figures: the sample id of feature-maps/index.json */
  sample?: string;
  /** per-layer figures: the layer name */
  layer?: string;
  /** size of the SVG in CSS pixels; the PNG is twice that */
  width: number;
  height: number;
  bytes: { spec: number; svg: number; png: number };
}

/** figures/index.json */
export interface FigureIndex {
  figures: FigureEntry[];
}
