/** The train step's work: resume or start, train the epochs still to do, restore the best. */
import { rm } from 'node:fs/promises';
import { TRAIN_IMAGES } from '../../pipeline/catalog/dataset.js';
import type { DatasetArtifact, FolderArtifact, JsonArtifact, ModelArtifact } from '../../pipeline/catalog/artifacts.js';
import type { History, HistoryRow, HistorySchema } from '../../pipeline/catalog/schema.js';
import type { Logger } from '../../pipeline/core/log.js';
import type { Params } from '../../pipeline/core/params.js';
import type { StepContext } from '../../pipeline/core/step.js';
import { gatherImages, gatherLabels, trainValSplit } from '../../pipeline/data/split.js';
import { createTrainer } from '../../pipeline/ml/parallel-trainer.js';
import { SHARDS } from '../../pipeline/ml/trainer.js';
import { epochKey } from '../train.js';
import { earlyStopping, freshStart, trainEpoch, type Fit } from './fit.js';
import { loadEpochWeights, resumeEpoch, saveEpoch, type EpochKey } from './state.js';

type Context = StepContext<{ dataset: DatasetArtifact }, { history: JsonArtifact<typeof HistorySchema>; best: ModelArtifact; state: FolderArtifact }>;

/** A model and optimizer at the newest saved epoch of this key, or fresh ones. */
async function resumeOrStart(root: string, key: EpochKey, p: Params, log: Logger) {
  const fresh = () => freshStart(p);
  const { model, optimizer } = fresh();
  const resumed = await resumeEpoch(root, key, model, optimizer, (m) => log.warn(m));
  if (resumed) return { model, optimizer, rows: resumed.rows, kept: resumed.kept };
  // A failed resume may have put some tensors in place: start from a really fresh pair.
  model.dispose();
  optimizer.dispose();
  return { ...fresh(), rows: [] as HistoryRow[], kept: [] as number[] };
}

const epochLine = (row: HistoryRow, p: Params, best: boolean) =>
  `epoch ${row.epoch}/${p.epochs}: loss ${row.loss.toFixed(4)} acc ${row.accuracy.toFixed(4)} ` +
  `val_loss ${row.val_loss.toFixed(4)} val_acc ${row.val_accuracy.toFixed(4)} ` +
  `${row.seconds.toFixed(1)} s (${Math.round(row.samples_per_s)} samples/s)` +
  (best ? ' *best' : '');

export async function train({ params: p, inputs, outputs, log, backend, force }: Context): Promise<void> {
  const root = outputs.state.dir;
  if (force) {
    log.warn(`--force: discarding the saved epochs in ${root}`);
    await rm(root, { recursive: true, force: true });
  }
  const key = await epochKey(p, inputs.dataset.paths, backend);
  const data = await inputs.dataset.load();
  const split = trainValSplit(TRAIN_IMAGES, p.trainSize, p.valSize, p.seed);
  const { model, optimizer, rows } = await resumeOrStart(root, key, p, log);
  let state = earlyStopping(rows, p.patience);
  if (rows.length > 0) {
    const done = state.stop || rows.length >= p.epochs;
    log.info(done ? `train: all ${rows.length} epochs are saved for these params, data, backend and training code: replaying them, no training` : `train: resuming after epoch ${rows.length}`);
  }
  if (!state.stop && rows.length < p.epochs) {
    const validation = { x: gatherImages(data.train.images, split.val), y: gatherLabels(data.train.labels, split.val) };
    const trainer = await createTrainer(model, optimizer, { threads: p.threads ?? 1, backend, maxBatch: p.batchSize, validation });
    try {
      // The count the trainer really has (the tests read this line), not the one asked for.
      log.info(`train: ${trainer.threads} thread(s), ${SHARDS / trainer.threads} shard(s) of each batch per thread`);
      const fit: Fit = { model, trainer, train: data.train, split };
      for (let epoch = rows.length + 1; epoch <= p.epochs && !state.stop; epoch++) {
        const row = await trainEpoch(fit, p, epoch, log);
        rows.push(row);
        state = earlyStopping(rows, p.patience);
        // Keep: this epoch (resume), the one before (fallback if this one is damaged), the best.
        const kept = [epoch - 1, state.best].filter((e) => e >= 1);
        await saveEpoch(root, key, rows, kept, model, optimizer);
        log.info(epochLine(row, p, state.best === epoch));
      }
    } finally {
      await trainer.dispose();
    }
  }
  if (state.stop) log.info(`train: early stopping after epoch ${rows.length}; best epoch ${state.best} restored`);

  await loadEpochWeights(root, state.best, model);
  await outputs.best.save(model);
  const history: History = { rows, best_epoch: state.best, stopped_early: state.stop };
  await outputs.history.write(history);
  model.dispose();
  optimizer.dispose();
}
