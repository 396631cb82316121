/** The messages of a model file that cannot be used: each names the file and says what to do. */
import { BadInputError } from '../../core/errors.js';

export const SAVE_AGAIN = 'load it in Python and save it again with model.save("best-cnn-model.keras")';
export const PASS_MODEL =
  'pass the .keras or .h5 file that Keras\'s model.save(...) wrote, or a TensorFlow.js model.json (with its weight files beside it)';
export const SUPPORTED =
  'cnn-lens runs InputLayer, Conv2D, MaxPooling2D, Flatten, Reshape, Dense and Dropout layers (channels_last, float32) with the activations relu, softmax, sigmoid, tanh and linear';

export function badModel(file: string, what: string, fix: string): BadInputError {
  return new BadInputError(`${file}: ${what}; ${fix}`);
}
