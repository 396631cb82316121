/**
 * A TensorFlow.js model back to a ModelSpec, for the export. Its topology (`toJSON`) is a Keras 2
 * config, read by the same parser as a Keras file, so what can be imported is exactly what can be
 * exported.
 */
import { tf } from '../../tfjs/tf.js';
import { parseModelConfig } from './keras-config.js';
import type { ModelSpec } from './spec.js';

type Json = Record<string, unknown>;

export function specFromModel(model: tf.LayersModel, label: string): ModelSpec {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) throw new Error(`${label}: cannot export a model with ${model.inputs.length} inputs and ${model.outputs.length} outputs`);
  const topology = model.toJSON(null, false) as Json;
  const input = model.inputs[0];
  if (topology.class_name === 'Sequential') {
    // A tfjs Sequential lists no InputLayer, and its first layer carries the input shape only
    // when it was built with `inputShape`: the model's actual input says both name and shape.
    const config = topology.config as Json;
    const layers = (config.layers as Json[]).map((l) => {
      const { batch_input_shape: _dropped, ...rest } = l.config as Json;
      return { ...l, config: rest };
    });
    const inputLayer = { class_name: 'InputLayer', config: { batch_input_shape: input.shape, dtype: 'float32', sparse: false, name: input.sourceLayer.name } };
    config.layers = [inputLayer, ...layers];
  }
  return parseModelConfig(topology, label);
}
