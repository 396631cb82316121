import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { BadInputError } from '../core/errors.js';
import type { StepName } from '../core/params.js';

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

/** A path recorded inside an artifact must stay inside its step folder (artifacts are input too). */
function checkRelative(path: string): string {
  if (isAbsolute(path) || path.split(/[\\/]/).includes('..')) {
    throw new BadInputError(`artifact path ${JSON.stringify(path)} leaves its step folder: re-create the artifact that names it`);
  }
  return path;
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

  private staging = new Map<StepName, string>();

  /** The folder a step writes (the report step writes files at the run folder's top). */
  stepDir(step: StepName): string {
    return this.staging.get(step) ?? (step === 'report' ? this.runDir : join(this.runDir, step));
  }

  /** The final folder of a step, ignoring any staging. */
  finalStepDir(step: StepName): string {
    return step === 'report' ? this.runDir : join(this.runDir, step);
  }

  /**
   * A view of this store in which `step` writes into `dir` (the runner's staging folder, swapped
   * into place when the step succeeds); every other path is unchanged.
   */
  withStaging(step: StepName, dir: string): RunStore {
    const view = Object.create(RunStore.prototype) as RunStore;
    Object.assign(view, this);
    view.staging = new Map(this.staging).set(step, dir);
    return view;
  }

  get runJson(): string {
    return join(this.runDir, 'run.json');
  }
  get lockFile(): string {
    return join(this.runDir, '.lock');
  }

  // train/
  get history(): string {
    return join(this.stepDir('train'), 'history.json');
  }
  /** Latest finished epoch: weights + optimizer state, for resume. */
  get trainState(): string {
    return join(this.stepDir('train'), 'state');
  }
  /** Best epoch's weights so far (early stopping restores them). */
  get trainBest(): string {
    return join(this.stepDir('train'), 'best');
  }

  // checkpoint/
  get modelJson(): string {
    return join(this.stepDir('checkpoint'), 'model.json');
  }
  get metrics(): string {
    return join(this.stepDir('checkpoint'), 'metrics.json');
  }

  // weights/
  get weightStats(): string {
    return join(this.stepDir('weights'), 'stats.json');
  }
  /** A tensor of the weights step, from its path relative to weights/ as stats.json records it. */
  weightsFile(relative: string): string {
    return join(this.stepDir('weights'), checkRelative(relative));
  }

  // feature-maps/
  get featureIndex(): string {
    return join(this.stepDir('feature-maps'), 'index.json');
  }
  /** A tensor of the feature-maps step, from its path relative to feature-maps/ as index.json records it. */
  featureMapsFile(relative: string): string {
    return join(this.stepDir('feature-maps'), checkRelative(relative));
  }

  // figures/
  get figuresDir(): string {
    return this.stepDir('figures');
  }
  get figureIndex(): string {
    return join(this.figuresDir, 'index.json');
  }

  // report
  get reportHtml(): string {
    return join(this.runDir, 'report.html');
  }
  get reportJson(): string {
    return join(this.runDir, 'report.json');
  }
  get reportScreenshot(): string {
    return join(this.runDir, 'report.png');
  }
  /** The report at a phone's width (390 px), beside the laptop-width report.png. */
  get reportScreenshotPhone(): string {
    return join(this.runDir, 'report-phone.png');
  }
}
