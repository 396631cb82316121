/** The files of a saved model, known without loading TensorFlow.js (fingerprints need them on every run). */
import { dirname, join } from 'node:path';

/** The one weights shard `saveModel` writes beside model.json. */
export const SHARD = 'weights.bin';

/** The files of a model saved by `saveModel`: model.json and its shard. */
export function modelFiles(modelJsonPath: string): string[] {
  return [modelJsonPath, join(dirname(modelJsonPath), SHARD)];
}
