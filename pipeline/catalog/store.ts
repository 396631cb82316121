import { readFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { BadInputError } from '../core/errors.js';
import type { RunManifest } from '../core/manifest.js';
import type { Artifacts, Step } from '../core/step.js';
import { DatasetArtifact, FigureFolder, FileArtifact, FolderArtifact, JsonArtifact, ModelArtifact, ScratchFolder, TensorFolder } from './artifacts.js';
import * as v from 'valibot';
import { FeatureIndexSchema, HistorySchema, MetricsSchema, WeightStatsSchema } from './schema.js';
import { FilterPatternsIndexSchema } from './schema.js';
import { AttentionIndexSchema } from './schema.js';
import { MistakesIndexSchema } from './schema.js';
import { OwnImagesIndexSchema } from './schema.js';
import { ImageInputsFolder } from './image-inputs.js';

/** report.json is the report's own record of what it showed; nothing reads it back but people and tests. */
const ReportContextSchema = v.looseObject({ lang: v.string() });

/** Run ids become folder names: a safe character set, no separators, no "..". */
export const RUN_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export function checkRunId(id: string): string {
  if (!RUN_ID_PATTERN.test(id) || id.includes('..')) {
    throw new BadInputError(
      `bad run id ${JSON.stringify(id)}: use 1-100 characters from A-Z a-z 0-9 . _ -, starting with a letter or digit, without ".."`,
    );
  }
  return id;
}

/**
 * The catalog: every artifact path of a run, named once here (steps never build paths by hand).
 * Layout documented in README.md ("Artifacts").
 */
export class RunStore {
  readonly artifacts: string;
  readonly runId: string;
  readonly runDir: string;
  /** Dataset cache shared by all runs. */
  readonly dataDir: string;

  constructor(artifacts: string, runId: string) {
    this.artifacts = resolve(artifacts);
    this.runId = checkRunId(runId);
    this.runDir = join(this.artifacts, 'runs', runId);
    this.dataDir = join(this.artifacts, 'data', 'fashion-mnist');
  }

  /**
   * A store over an existing run folder wherever it lies (e.g. a CI artifact downloaded to
   * ./base-run): the diff reads runs this way. Its dataset cache is not used.
   */
  static at(runDir: string): RunStore {
    const dir = resolve(runDir);
    const view = Object.create(RunStore.prototype) as RunStore;
    Object.assign(view, new RunStore(dirname(dirname(dir)), 'placeholder'), {
      runId: basename(dir),
      runDir: dir,
    });
    return view;
  }

  private staging = new Map<string, string>();

  /** Folders where a killed run may have left temporary files. */
  get scratchDirs(): string[] {
    return [this.runDir, this.dataDir];
  }

  /** The folder a step writes (the report step writes files at the run folder's top). */
  private stepDir(step: string): string {
    return this.staging.get(step) ?? this.finalStepDir(step);
  }

  /** The final folder of a step, ignoring any staging. */
  finalStepDir(step: string): string {
    return step === 'report' ? this.runDir : join(this.runDir, step);
  }

  /**
   * A view of this store in which `step` writes into `dir` (the runner's staging folder, swapped
   * into place when the step succeeds); every other path is unchanged.
   */
  withStaging(step: string, dir: string): RunStore {
    const view = Object.create(RunStore.prototype) as RunStore;
    Object.assign(view, this);
    view.staging = new Map(this.staging).set(step, dir);
    return view;
  }

  get runJson(): string {
    return join(this.runDir, 'run.json');
  }
  /**
   * run.json as the report shows it. Not part of any fingerprint (no paths): the runner rewrites it
   * around every step, which would make the report stale forever.
   */
  get runRecord(): { paths: string[]; read(): Promise<Partial<RunManifest>> } {
    const path = this.runJson;
    return { paths: [], read: () => readManifestLeniently(path) };
  }

  /** The verified dataset cache shared by all runs. */
  get dataset(): DatasetArtifact {
    return new DatasetArtifact(this.dataDir);
  }
  /** What the download step writes: the dataset and the cache's manifest.json. */
  get datasetCache(): DatasetArtifact {
    return new DatasetArtifact(this.dataDir, true);
  }

  // train/
  get history(): JsonArtifact<typeof HistorySchema> {
    return new JsonArtifact(join(this.stepDir('train'), 'history.json'), HistorySchema, 'train');
  }
  /** Per-epoch weights + optimizer state, for resume: scratch, which a finished run can drop. */
  get trainState(): FolderArtifact {
    return new ScratchFolder(join(this.stepDir('train'), 'state'));
  }
  /** The best epoch's model (early stopping restores it). */
  get trainBest(): ModelArtifact {
    return new ModelArtifact(join(this.stepDir('train'), 'best', 'model.json'));
  }

  // checkpoint/
  get model(): ModelArtifact {
    return new ModelArtifact(join(this.stepDir('checkpoint'), 'model.json'));
  }
  /** The checkpoint in the Keras 3 format, for Python users to go on in Keras. */
  get modelKeras(): FileArtifact {
    return new FileArtifact(join(this.stepDir('checkpoint'), 'model.keras'));
  }
  get metrics(): JsonArtifact<typeof MetricsSchema> {
    return new JsonArtifact(join(this.stepDir('checkpoint'), 'metrics.json'), MetricsSchema, 'checkpoint');
  }

  /** weights/: stats.json and the tensors it lists. */
  get weights(): TensorFolder<typeof WeightStatsSchema> {
    return new TensorFolder(this.stepDir('weights'), 'stats.json', WeightStatsSchema, 'weights');
  }

  /** feature-maps/: index.json and the tensors it lists. */
  get featureMaps(): TensorFolder<typeof FeatureIndexSchema> {
    return new TensorFolder(this.stepDir('feature-maps'), 'index.json', FeatureIndexSchema, 'feature-maps');
  }

  /** filter-patterns/: index.json and, per conv layer, trained.npy and untrained.npy [filters, 28, 28]. */
  get filterPatterns(): TensorFolder<typeof FilterPatternsIndexSchema> {
    return new TensorFolder(this.stepDir('filter-patterns'), 'index.json', FilterPatternsIndexSchema, 'filter-patterns');
  }

  /** attention/: index.json and the Grad-CAM and saliency maps it lists. */
  get attention(): TensorFolder<typeof AttentionIndexSchema> {
    return new TensorFolder(this.stepDir('attention'), 'index.json', AttentionIndexSchema, 'attention');
  }

  /** mistakes/: index.json, the test set's probabilities and labels, the most confident mistakes' images, the map's coordinates. */
  get mistakes(): TensorFolder<typeof MistakesIndexSchema> {
    return new TensorFolder(this.stepDir('mistakes'), 'index.json', MistakesIndexSchema, 'mistakes');
  }

  /** inputs/images/: the reader's pictures given with --image, copied into the run. */
  get imageInputs(): ImageInputsFolder {
    return new ImageInputsFolder(join(this.runDir, 'inputs', 'images'));
  }

  /** own-images/: index.json and the tensors it lists (the reader's pictures through the model). */
  get ownImages(): TensorFolder<typeof OwnImagesIndexSchema> {
    return new TensorFolder(this.stepDir('own-images'), 'index.json', OwnImagesIndexSchema, 'own-images');
  }

  get figures(): FigureFolder {
    return new FigureFolder(this.stepDir('figures'));
  }

  // report
  get reportHtml(): FileArtifact {
    return new FileArtifact(join(this.runDir, 'report.html'));
  }
  get reportJson(): JsonArtifact<typeof ReportContextSchema> {
    return new JsonArtifact(join(this.runDir, 'report.json'), ReportContextSchema, 'report');
  }
  get reportScreenshot(): string {
    return join(this.runDir, 'report.png');
  }
  /** The report at a phone's width (390 px), beside the laptop-width report.png. */
  get reportScreenshotPhone(): string {
    return join(this.runDir, 'report-phone.png');
  }
}

/** run.json as it is; the report shows what it finds and never fails on it. */
async function readManifestLeniently(path: string): Promise<Partial<RunManifest>> {
  try {
    const parsed = JSON.parse(await readFile(path, 'utf8')) as unknown;
    return parsed && typeof parsed === 'object' ? (parsed as Partial<RunManifest>) : {};
  } catch {
    return {};
  }
}

/**
 * A step over this store, with the types of its inputs and outputs inferred from what it
 * declares, so that `run` gets exactly those (`inputs.history.read()` is a History).
 */
export function defineStep<I extends Artifacts, O extends Artifacts>(step: Step<RunStore, I, O>): Step<RunStore, I, O> {
  return step;
}
