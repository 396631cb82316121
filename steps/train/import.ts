/**
 * The train step for --model: nothing is trained; the reader's model file becomes the run's
 * trained model (train/best, in the TensorFlow.js layers format, as training would leave it).
 */
import type { ModelArtifact } from '../../pipeline/catalog/artifacts.js';
import { importModel } from '../../pipeline/catalog/keras/index.js';
import { BadInputError } from '../../pipeline/core/errors.js';
import type { ModelSource } from '../../pipeline/core/params.js';
import type { StepContext, StepOutcome } from '../../pipeline/core/step.js';
import type { Artifacts } from '../../pipeline/core/step.js';

type Context = StepContext<Artifacts, { best: ModelArtifact } & Artifacts>;

export async function importTrained({ outputs, log }: Context, given: ModelSource): Promise<StepOutcome> {
  const { model, source } = await importModel(given.path);
  try {
    // The fingerprint was taken from the bytes inspected when the run started.
    if (source.sha256 !== given.sha256) {
      throw new BadInputError(`${given.path} changed while the run started (SHA-256 ${given.sha256.slice(0, 8)} then ${source.sha256.slice(0, 8)}): run the command again`);
    }
    await outputs.best.save(model);
  } finally {
    model.dispose();
  }
  log.info(`train: imported ${source.path} (${source.format}${source.keras_version ? `, Keras ${source.keras_version}` : ''}); nothing trained`);
  return { status: 'imported', source: { ...source } };
}
