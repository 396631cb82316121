export const PROFILES = ['book', 'quick'] as const;
export type Profile = (typeof PROFILES)[number];

export const BACKENDS = ['auto', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKENDS)[number];

export const LANGS = ['en', 'ko'] as const;
export type Lang = (typeof LANGS)[number];

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
  lang: Lang;
  /** Extra dataset source (--data-dir or FASHION_MNIST_DIR); not part of any fingerprint. */
  dataDir?: string;
}

/** The book's settings (chapter 8-2) and a small seeded subset of the same data for smoke runs. */
export const PROFILE_DEFAULTS: Record<Profile, Omit<Params, 'backend' | 'lang' | 'profile'>> = {
  book: { seed: 42, epochs: 20, batchSize: 32, patience: 2, trainSize: 48_000, valSize: 12_000 },
  quick: { seed: 42, epochs: 3, batchSize: 32, patience: 2, trainSize: 6_000, valSize: 1_500 },
};

