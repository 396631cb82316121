/** What a model file is, known without TensorFlow.js: the result of opening it cheaply. */
import type { LayerWeights, ModelSpec } from './spec.js';

export type ModelFormat = 'keras3' | 'keras2-h5' | 'tfjs-layers';

export interface ModelSource {
  /** Absolute path as given (resolved). */
  path: string;
  /**
   * SHA-256 of the file's bytes (what `sha256sum` prints). For tfjs-layers: of model.json's bytes
   * followed by the bytes of each weights shard in the order model.json lists them, i.e.
   * `cat model.json <shards...> | sha256sum`.
   */
  sha256: string;
  format: ModelFormat;
  /** Keras 3 metadata.json's or Keras 2's root attribute; a tfjs topology's keras_version; else null. */
  keras_version: string | null;
  /** Keras 3 metadata.json's date_saved; null when absent. */
  date_saved: string | null;
}

/** A model file whose container, metadata and architecture have been read and checked. */
export interface OpenedModel {
  source: ModelSource;
  spec: ModelSpec;
  /** Reads every weight the architecture needs (the expensive part). */
  readWeights(): Promise<LayerWeights>;
}
