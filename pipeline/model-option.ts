/**
 * `--model <file>`: the run of a trained model file instead of training. Everything about the
 * file is checked here, before the run folder is touched: a bad file is bad input with nothing
 * written, and a run made one way is never continued the other way.
 */
import { basename, resolve } from 'node:path';
import { RunStore } from './catalog/store.js';
import { UsageError } from './core/errors.js';
import { readManifest } from './core/manifest.js';
import type { ModelSource } from './core/params.js';
import { initTf } from './tfjs/backend.js';
import type { CliOptions } from './cli.js';

/** `model-<file stem>-<first 8 hex of its SHA-256>`: every reader's file is called best-cnn-model.keras. */
export function importedRunId(source: ModelSource): string {
  const name = basename(source.path);
  // model.json names nothing: its folder does (as checkpoint/ or a converter writes it).
  const stem = name === 'model.json' ? basename(resolve(source.path, '..')) : name.replace(/\.(keras|h5|hdf5|json)$/i, '');
  const safe = stem.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^[^A-Za-z0-9]+/, '').replace(/\.\.+/g, '.').slice(0, 80) || 'file';
  return `model-${safe}-${source.sha256.slice(0, 8)}`;
}

/** The options with --model's file inspected (params.model, the derived run id), or as they are. */
export async function resolveModelOption(cli: CliOptions): Promise<CliOptions> {
  let resolved = cli;
  let source: ModelSource | undefined;
  if (cli.model !== undefined) {
    // Loaded only for --model: a no-op re-run of a trained run must not pay for it.
    const { inspectModelFile } = await import('./catalog/keras/index.js');
    source = await inspectModelFile(resolve(cli.model));
    resolved = { ...cli, params: { ...cli.params, model: source }, runId: cli.runGiven ? cli.runId : importedRunId(source) };
  }
  const store = new RunStore(resolved.artifacts, resolved.runId);
  const previous = await readManifest(store.runJson);
  const madeFrom = previous?.params.model;
  if (previous && madeFrom && !source) {
    throw new UsageError(
      `run ${resolved.runId} was made from the model file ${madeFrom.path}: give it again (npm run pipeline -- --model ${madeFrom.path} --run ${resolved.runId}), or pick another --run to train`,
    );
  }
  if (previous && !madeFrom && source && Object.keys(previous.steps).some((s) => s !== 'download')) {
    throw new UsageError(`run ${resolved.runId} holds a model trained by cnn-lens: an imported model needs its own run; drop --run (the run id is then derived from the file) or pick another`);
  }
  if (source && previous?.steps.train?.status === 'imported' && madeFrom?.sha256 === source.sha256) return resolved;
  if (source) {
    // A file that inspects well may still hold an unsupported layer or a weight of the wrong
    // shape: import it once now, while nothing is written (a re-run of the same bytes skips this).
    await initTf(resolved.params.backend);
    const { importModel } = await import('./catalog/keras/index.js');
    (await importModel(source.path)).model.dispose();
  }
  return resolved;
}
