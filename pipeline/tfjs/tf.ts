/**
 * TensorFlow.js itself, for every module that builds, trains, loads or saves a model. Which backend
 * runs it is decided once, in ./backend.ts; nothing imports a backend package directly.
 */
import * as tf from '@tensorflow/tfjs';

export { tf };
