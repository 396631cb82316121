import type { Step } from '../pipeline/core/step.js';
import { checkpointStep } from './checkpoint.js';
import { downloadStep } from './download.js';
import { featureMapsStep } from './feature-maps.js';
import { figuresStep } from './figures.js';
import { reportStep } from './report.js';
import { trainStep } from './train.js';
import { weightsStep } from './weights.js';

/** The registered steps, in pipeline order. */
export const STEPS: Step[] = [downloadStep, trainStep, checkpointStep, weightsStep, featureMapsStep, figuresStep, reportStep];
