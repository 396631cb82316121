/** A finished run folder, read whole for the diff (no retraining, no dataset). */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { BadInputError } from '../errors.js';
import { readManifest, type RunManifest } from '../manifest.js';
import { readNpy, type NpyArray } from '../npy.js';
import type { FeatureIndex, History, Metrics, WeightStats } from '../schema.js';
import { exists, readJson, RUN_ID_PATTERN, RunStore } from '../store.js';

export interface LoadedRun {
  /** what the user named: a run id or a folder */
  label: string;
  store: RunStore;
  manifest: RunManifest;
  history: History;
  metrics: Metrics;
  stats: WeightStats;
  features: FeatureIndex;
  /** trained tensors by "<layer>/<kind>", e.g. "conv2d/kernel" */
  weights: Map<string, NpyArray>;
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
  const required = [store.runJson, store.history, store.metrics, store.weightStats, store.featureIndex];
  const missing: string[] = [];
  for (const path of required) if (!(await exists(path))) missing.push(path);
  if (missing.length > 0) throw new BadInputError(`run ${arg} is incomplete: missing ${missing.join(', ')}; ${fix}`);
  const manifest = await readManifest(store.runJson);
  if (!manifest) throw new BadInputError(`run ${arg} is incomplete: missing ${store.runJson}; ${fix}`);
  const stats = await readJson<WeightStats>(store.weightStats, fix);
  const weights = new Map<string, NpyArray>();
  for (const [layer, kinds] of Object.entries(stats.trained ?? {})) {
    for (const [kind, t] of Object.entries(kinds)) {
      const path = store.weightsFile(t.file);
      if (!(await exists(path))) throw new BadInputError(`run ${arg} is incomplete: missing ${path}; ${fix}`);
      weights.set(`${layer}/${kind}`, await readNpy(path));
    }
  }
  return {
    label: arg,
    store,
    manifest,
    history: await readJson<History>(store.history, fix),
    metrics: await readJson<Metrics>(store.metrics, fix),
    stats,
    features: await readJson<FeatureIndex>(store.featureIndex, fix),
    weights,
  };
}
