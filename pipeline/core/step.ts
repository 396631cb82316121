import type { Params, StepName } from './params.js';
import type { RunStore } from '../catalog/store.js';
import type { Logger } from './log.js';

export interface StepContext {
  params: Params;
  /** The catalog. For a staged step, its own paths point into the staging folder. */
  store: RunStore;
  log: Logger;
  /** The backend the run resolved (after `--backend auto`), for steps that use TensorFlow.js. */
  backend: string;
  /** This run of the step's fingerprint (train keys its resumable epochs on it). */
  fingerprint: string;
  /** --force: redo from scratch (train discards its resumable epochs). */
  force: boolean;
}

/**
 * A pipeline step: named inputs (`reads`), named outputs (`writes`), one job. The runner
 * fingerprints it from `version`, `params` and the digest of `reads`, and skips it when the
 * fingerprint and the digest of `writes` match what run.json recorded.
 */
export interface Step {
  name: StepName;
  /** Bump when the step's code changes what it writes. */
  version: number;
  /**
   * When true (the default) the runner gives the step an empty staging folder as its stepDir and
   * swaps it into place only on success. Steps that must keep partial progress (train: resume
   * after a kill) or write outside the run folder (download) set false and write atomically.
   */
  staged?: boolean;
  /** When true, the resolved backend is part of the fingerprint (results differ across backends). */
  usesBackend?: boolean;
  /** The params this step's output depends on (and only those: changing another must not redo it). */
  params(p: Params): Record<string, unknown>;
  /** Files and folders read, produced by earlier steps or the dataset cache. */
  reads(store: RunStore): string[];
  /** Files and folders written. */
  writes(store: RunStore): string[];
  run(ctx: StepContext): Promise<void>;
}
