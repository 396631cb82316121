/**
 * A run folder with everything the figures and report steps read: a small real model on the real
 * dataset (helpers/fixture-run.ts), the real weights and feature-maps steps run on it, and a
 * book-like history, metrics and run.json written here (training the book's CNN for real takes
 * far too long for a test; their shapes are pinned by pipeline/catalog/schema.ts and pipeline/core/manifest.ts).
 */
import { consoleLogger } from '../../pipeline/core/log.js';
import type { RunManifest } from '../../pipeline/core/manifest.js';
import { packageVersions, RUN_SCHEMA_VERSION } from '../../pipeline/core/manifest.js';
import { PROFILE_DEFAULTS, type Lang, type Params } from '../../pipeline/core/params.js';
import type { History, Metrics } from '../../pipeline/catalog/schema.js';
import { writeJson } from '../../pipeline/core/files.js';
import { type RunStore } from '../../pipeline/catalog/store.js';
import { initTf } from '../../pipeline/tfjs/backend.js';
import { featureMapsStep } from '../../steps/feature-maps.js';
import { STEP_NAMES } from '../../steps/index.js';
import { weightsStep } from '../../steps/weights.js';
import { makeFixtureRun, type FixtureRun } from './fixture-run.js';
import { stepContext } from './step-context.js';

export { stepContext };

export const SEED = 42;

export function reportParams(lang: Lang = 'en'): Params {
  return { ...PROFILE_DEFAULTS.book, profile: 'book', backend: 'cpu', lang };
}

export const log = consoleLogger({ quiet: true });

/** The book's published run: 8 epochs, best epoch 6 (REFERENCE.md), with plausible numbers around it. */
export const HISTORY: History = {
  rows: [
    [0.5233, 0.8131, 0.3357, 0.8773],
    [0.3469, 0.8752, 0.2913, 0.8916],
    [0.2975, 0.8914, 0.2626, 0.9018],
    [0.2656, 0.9031, 0.2455, 0.9090],
    [0.2431, 0.9105, 0.2367, 0.9131],
    [0.2219, 0.9178, 0.2193, 0.9201],
    [0.2052, 0.9239, 0.2283, 0.9165],
    [0.1903, 0.9290, 0.2301, 0.9178],
  ].map(([loss, accuracy, val_loss, val_accuracy], i) => ({
    epoch: i + 1,
    loss,
    accuracy,
    val_loss,
    val_accuracy,
    seconds: 61.5 + i,
    samples_per_s: 780 - i,
  })),
  best_epoch: 6,
  stopped_early: true,
};

/** A 10 x 10 test confusion matrix of 1,000 images per class, 91.25% on the diagonal overall. */
export function bookConfusion(): number[][] {
  const right = [860, 978, 870, 915, 872, 975, 745, 968, 982, 960];
  return right.map((r, t) => {
    const row = new Array<number>(10).fill(0);
    row[t] = r;
    // The rest spread over two neighbours (the shirt/T-shirt/pullover kind of confusion).
    const wrong = 1000 - r;
    row[(t + 1) % 10] += Math.ceil(wrong / 2);
    row[(t + 9) % 10] += Math.floor(wrong / 2);
    return row;
  });
}

export function bookMetrics(): Metrics {
  const confusion = bookConfusion();
  const diag = confusion.reduce((n, row, i) => n + row[i], 0);
  return {
    best_epoch: 6,
    epochs_run: 8,
    val: { loss: 0.2193, accuracy: 0.9201, count: 12_000 },
    test: { loss: 0.2517, accuracy: diag / 10_000, count: 10_000 },
    confusion,
    per_class_accuracy: confusion.map((row, i) => row[i] / 1000),
  };
}

export function manifest(params: Params, runId: string): RunManifest {
  const step = (seconds: number, started: string) => ({ status: 'ok' as const, fingerprint: 'f'.repeat(64), outputs: 'o'.repeat(64), started, seconds });
  return {
    schema_version: RUN_SCHEMA_VERSION,
    run_id: runId,
    created: '2025-11-28T07:00:00.000Z',
    updated: '2025-11-28T07:09:30.000Z',
    params,
    profile: params.profile,
    seed: params.seed,
    backend: 'wasm',
    backend_reason: "auto: @tensorflow/tfjs-node is not installed; using wasm with the project's training kernels",
    versions: packageVersions(),
    git_commit: '02fe66f0123456789abcdef0123456789abcdef0',
    pipeline: [...STEP_NAMES],
    steps: {
      download: step(0.4, '2025-11-28T07:00:01.000Z'),
      train: step(512.3, '2025-11-28T07:00:02.000Z'),
      checkpoint: step(6.1, '2025-11-28T07:08:35.000Z'),
      weights: step(1.2, '2025-11-28T07:08:41.000Z'),
      'feature-maps': step(2.3, '2025-11-28T07:08:43.000Z'),
      figures: step(3.1, '2025-11-28T07:08:45.000Z'),
    },
  };
}

export interface ReportRun extends FixtureRun {
  params: Params;
}

/** Builds the run folder up to (not including) the figures step. */
export async function makeReportRun(lang: Lang = 'en'): Promise<ReportRun> {
  await initTf('cpu');
  const fixture = await makeFixtureRun(SEED);
  const params = reportParams(lang);
  const { store } = fixture;
  await weightsStep.run(stepContext(weightsStep, params, store, { log }));
  await featureMapsStep.run(stepContext(featureMapsStep, params, store, { log }));
  await writeJson(store.history.path, HISTORY);
  await writeJson(store.metrics.path, bookMetrics());
  await writeJson(store.runJson, manifest(params, store.runId));
  return { ...fixture, params };
}
