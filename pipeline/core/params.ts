export const PROFILES = ['book', 'quick'] as const;
export type Profile = (typeof PROFILES)[number];

export const BACKENDS = ['auto', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKENDS)[number];

export const LANGS = ['en', 'ko'] as const;
export type Lang = (typeof LANGS)[number];

/** The most --threads accepted (more than the shards of a batch train with one thread per shard). */
export const MAX_THREADS = 8;

/** Everything that decides what a run computes. Recorded in run.json. */
export interface Params {
  profile: Profile;
  seed: number;
  epochs: number;
  batchSize: number;
  patience: number;
  /** images used for training, taken from the 60,000 after a seeded shuffle */
  trainSize: number;
  /** images held out for validation, disjoint from the training ones */
  valSize: number;
  backend: BackendChoice;
  /**
   * Training threads (--threads; the CLI's default: the cores available, at most MAX_THREADS;
   * absent: 1), one per shard of each batch (pipeline/ml/parallel-trainer.ts). Recorded in
   * run.json, and in no fingerprint or run id: the weights are bit-identical for every count
   * (test/threads.test.ts), so a run made on 2 cores is up to date on 4.
   */
  threads?: number;
  lang: Lang;
  /**
   * Rate of the dropout layer (--dropout, 0 <= rate < 1). Absent (params recorded before the option
   * existed): DEFAULT_DROPOUT. In the train fingerprint and the run id only when not the default,
   * so that a run made before the option existed stays up to date.
   */
  dropout?: number;
  /** Adam's learning rate (--learning-rate, > 0); absent: DEFAULT_LEARNING_RATE. Fingerprinted like dropout. */
  learningRate?: number;
  /**
   * --map-points: how many test images (the first n) the mistakes step predicts and maps; absent:
   * its default for the run (steps/mistakes.ts). In the mistakes step's fingerprint, not in the run id.
   */
  mapPoints?: number;
  /** Extra dataset source (--data-dir or FASHION_MNIST_DIR); not part of any fingerprint. */
  dataDir?: string;
  /** --model: a trained model file the run shows instead of training one */
  model?: ModelSource;
}

export type ModelFormat = 'keras3' | 'keras2-h5' | 'tfjs-layers';

/** A model file given with --model, as inspected before the run (pipeline/catalog/keras: no TensorFlow.js needed). */
export interface ModelSource {
  /** Absolute path as given (resolved). */
  path: string;
  /**
   * SHA-256 of the file's bytes (what `sha256sum` prints), what the fingerprints use: the path may
   * change, the run stays valid. For tfjs-layers: of model.json's bytes followed by the bytes of
   * each weights shard in the order model.json lists them, i.e. `cat model.json <shards...> | sha256sum`.
   */
  sha256: string;
  format: ModelFormat;
  /** Keras 3 metadata.json's or Keras 2's root attribute; a tfjs topology's keras_version; else null. */
  keras_version: string | null;
  /** Keras 3 metadata.json's date_saved; null when absent. */
  date_saved: string | null;
}

/** The book's settings (chapter 8-2) and a small seeded subset of the same data for smoke runs. */
export const PROFILE_DEFAULTS: Record<Profile, Omit<Params, 'backend' | 'lang' | 'profile'>> = {
  book: { seed: 42, epochs: 20, batchSize: 32, patience: 2, trainSize: 48_000, valSize: 12_000 },
  quick: { seed: 42, epochs: 3, batchSize: 32, patience: 2, trainSize: 6_000, valSize: 1_500 },
};

/** The book's `keras.layers.Dropout(0.4)` (chapter 8-2). */
export const DEFAULT_DROPOUT = 0.4;
/** Keras's and TensorFlow.js's default for Adam, which the book keeps. */
export const DEFAULT_LEARNING_RATE = 0.001;

/** The params only training uses: an imported model's run records none of them. */
export const TRAINING_PARAMS = ['profile', 'epochs', 'batchSize', 'patience', 'trainSize', 'valSize', 'dropout', 'learningRate'] as const;

/** The params as run.json records them: for an imported model (--model), without the training ones it never used. */
export function recordedParams(p: Params): Partial<Params> {
  if (!p.model) return p;
  const out: Partial<Params> = { ...p };
  for (const key of TRAINING_PARAMS) delete out[key];
  return out;
}
