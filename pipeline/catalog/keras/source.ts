/** What a model file is, known without TensorFlow.js: the result of opening it cheaply. */
import type { ModelSource } from '../../core/params.js';
import type { LayerWeights, ModelSpec } from './spec.js';

// The shape run.json records (params.model) is the core's; the catalog fills it.
export type { ModelFormat, ModelSource } from '../../core/params.js';

/** A model file whose container, metadata and architecture have been read and checked. */
export interface OpenedModel {
  source: ModelSource;
  spec: ModelSpec;
  /** Reads every weight the architecture needs (the expensive part). */
  readWeights(): Promise<LayerWeights>;
}
