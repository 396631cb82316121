import type { Logger } from './log.js';
import type { Params } from './params.js';

/**
 * Anything a step reads or writes, as the catalog hands it out: typed reads and writes, and the
 * files or folders that hold it (the runner digests those for fingerprints).
 */
export interface Artifact {
  readonly paths: readonly string[];
}

/** A step's named artifacts; `undefined` for one this run does not have (an imported model has no training history). */
export type Artifacts = Record<string, Artifact | undefined>;

/** Every path of a step's artifacts, in declaration order. */
export const pathsOf = (artifacts: Artifacts): string[] => Object.values(artifacts).flatMap((a) => (a ? [...a.paths] : []));

/** What a step reports besides success: `imported` when it took its output from a file instead of computing it. */
export interface StepOutcome {
  status: 'imported';
  /** what was imported, recorded in run.json (e.g. the model file's path, SHA-256, format) */
  source: Record<string, unknown>;
}

/** What the runner needs of a run folder; the catalog's RunStore is the one implementation. */
export interface RunFolder<Self> {
  readonly runId: string;
  readonly runDir: string;
  readonly runJson: string;
  /** Folders where a killed run may have left temporary files. */
  readonly scratchDirs: readonly string[];
  /** The final folder of a step, ignoring any staging. */
  finalStepDir(step: string): string;
  /** A view in which `step` writes into `dir` (the runner's staging folder); every other path is unchanged. */
  withStaging(step: string, dir: string): Self;
}

export interface StepContext<I extends Artifacts, O extends Artifacts> {
  params: Params;
  runId: string;
  /** What `inputs()` declared, the only artifacts the step reads: the fingerprint covers exactly these. */
  inputs: I;
  /** What `outputs()` declared; for a staged step they point into the staging folder. */
  outputs: O;
  log: Logger;
  /** The resolved backend (after `--backend auto`): tensorflow, wasm or cpu. */
  backend: string;
  /** --force: redo from scratch (train discards its resumable epochs). */
  force: boolean;
}

/**
 * A pipeline step: named inputs, named outputs, one job. The runner fingerprints it from its
 * params, the digest of its inputs and the digest of its code (`module` and every project module
 * it loads, `files`, the versions of `packages`), and skips it when the fingerprint and the digest
 * of its outputs match what run.json recorded.
 */
export interface Step<S, I extends Artifacts = Artifacts, O extends Artifacts = Artifacts> {
  name: string;
  /** `import.meta.url` of the step's module. */
  module: string;
  /** Other files that shape its output (templates). */
  files?(): string[];
  /** Packages whose output the step records (their versions enter the fingerprint). */
  packages?: readonly string[];
  /**
   * When true (the default) the runner gives the step an empty staging folder and swaps it into
   * place only on success. Steps that must keep partial progress (train: resume after a kill) or
   * write outside the run folder (download) set false and write atomically.
   */
  staged?: boolean;
  /** When true, the resolved backend is part of the fingerprint (results differ across backends). */
  usesBackend?: boolean;
  /** The params this step's output depends on (and only those: changing another must not redo it). */
  params(p: Params): Record<string, unknown>;
  /** `params` decides which inputs a run has (an imported model's run has no history); absent, a trained run's. */
  inputs(store: S, params?: Params): I;
  outputs(store: S): O;
  // A method, not a property: a Step<S, {history: ...}> is then usable where a Step<S> is expected.
  run(ctx: StepContext<I, O>): Promise<void | StepOutcome>;
}
