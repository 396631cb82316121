/** A finished run folder, read whole for the diff (no retraining, no dataset). */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { BadInputError } from '../core/errors.js';
import { convLayers } from '../render/figures/kernels.js';
import { readManifest, RUN_SCHEMA_VERSION, type RunManifest } from '../core/manifest.js';
import type { NpyArray } from '../catalog/npy.js';
import { chapterSample, type FeatureIndex, type FeatureSample, type History, type Metrics, type WeightStats } from '../catalog/schema.js';
import { exists } from '../core/files.js';
import { RUN_ID_PATTERN, RunStore } from '../catalog/store.js';

/** The steps whose artifacts the diff reads: each must have finished ("ok" in run.json). */
export const DIFF_READS: readonly string[] = ['train', 'checkpoint', 'weights', 'feature-maps'];

export interface LoadedRun {
  /** what the user named: a run id or a folder */
  label: string;
  store: RunStore;
  manifest: RunManifest;
  /** null for a run of a model imported with --model (it was not trained here) */
  history: History | null;
  metrics: Metrics;
  stats: WeightStats;
  features: FeatureIndex;
  /** trained tensors by "<layer>/<kind>", e.g. "conv2d/kernel" */
  weights: Map<string, NpyArray>;
  /** the chapter's sample (features.untrained.sample) and its conv layers' feature maps [1, H, W, C], by layer */
  sample: FeatureSample;
  maps: Map<string, NpyArray>;
}

/** A run id under <artifacts>/runs, or a path to a run folder. */
export async function resolveRunDir(arg: string, artifacts: string): Promise<string> {
  const isDir = async (p: string) => (await stat(p).catch(() => null))?.isDirectory() ?? false;
  if (RUN_ID_PATTERN.test(arg) && !arg.includes('..') && (await isDir(join(artifacts, 'runs', arg)))) {
    return join(artifacts, 'runs', arg);
  }
  if (await isDir(arg)) return arg;
  throw new BadInputError(
    `no run ${JSON.stringify(arg)}: neither ${join(artifacts, 'runs', arg)} nor ${arg} is a run folder; ` +
      'give a run id under --artifacts or a path to a run folder (made by npm run pipeline)',
  );
}

export async function loadRun(arg: string, artifacts: string): Promise<LoadedRun> {
  const store = RunStore.at(await resolveRunDir(arg, artifacts));
  const fix = `finish that run first (npm run pipeline -- --run ${store.runId} ...) or pick a complete run folder`;
  const incomplete = (what: string) => new BadInputError(`run ${arg} is incomplete: ${what}; ${fix}`);

  if (!(await exists(store.runJson))) throw incomplete(`missing ${store.runJson}`);
  const manifest = await readManifest(store.runJson);
  if (!manifest) throw incomplete(`missing ${store.runJson}`);
  // An imported model (--model) was not trained here: its run has no history.
  const imported = manifest.params.model !== undefined;
  const required = [...(imported ? [] : [store.history.path]), store.metrics.path, store.weights.index.path, store.featureMaps.index.path];
  const missing: string[] = [];
  for (const path of required) if (!(await exists(path))) missing.push(path);
  if (missing.length > 0) throw incomplete(`missing ${missing.join(', ')}`);
  // A failed step keeps its last good output: that output would not belong to this run's params.
  const done = (status: string | undefined) => status === 'ok' || status === 'imported';
  const unfinished = DIFF_READS.filter((s) => !done(manifest.steps[s]?.status));
  if (unfinished.length > 0) {
    throw incomplete(`${store.runJson} records step(s) ${unfinished.map((s) => `${s} (${manifest.steps[s]?.status ?? 'not run'})`).join(', ')}`);
  }

  // Each read validates its file: a bad or foreign one is bad input naming the file and the field.
  // A run made by an older release whose files no longer validate is to be re-run, not repaired:
  // say so (CI skips the diff with a note on that phrase instead of failing the pull request).
  const older = (manifest.schema_version ?? 1) < RUN_SCHEMA_VERSION;
  const read = <T>(artifact: { read(): Promise<T> }): Promise<T> =>
    artifact.read().catch((err: unknown) => {
      if (older && err instanceof BadInputError) {
        throw new BadInputError(`${err.message}; run ${arg} was written by an older cnn-lens (run.json schema ${manifest.schema_version}): re-run it with this version of cnn-lens`);
      }
      throw err;
    });
  const history = imported ? null : await read(store.history);
  const metrics = await read(store.metrics);
  const stats = await read(store.weights.index);
  const features = await read(store.featureMaps.index);
  if (history?.rows.length === 0) throw incomplete(`${store.history.path} has no epochs`);
  if (Object.keys(stats.trained).length === 0) throw incomplete(`${store.weights.index.path} lists no trained tensors`);

  const weights = new Map<string, NpyArray>();
  for (const [layer, kinds] of Object.entries(stats.trained)) {
    for (const [kind, t] of Object.entries(kinds)) weights.set(`${layer}/${kind}`, await store.weights.read(t.file, t.shape));
  }

  const sample = chapterSample(features);
  if (!sample) throw incomplete(`${store.featureMaps.index.path} lists no samples`);
  const maps = new Map<string, NpyArray>();
  for (const layer of convLayers(stats)) {
    const map = sample.layers.find((l) => l.layer === layer);
    if (!map) throw incomplete(`${store.featureMaps.index.path} has no ${layer} maps of sample ${sample.id}`);
    maps.set(layer, await store.featureMaps.read(map.file, map.shape));
  }
  return { label: arg, store, manifest, history, metrics, stats, features, weights, sample, maps };
}
