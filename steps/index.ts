import type { Step } from '../pipeline/core/step.js';
import type { RunStore } from '../pipeline/catalog/store.js';
import { attentionStep } from './attention.js';
import { checkpointStep } from './checkpoint.js';
import { downloadStep } from './download.js';
import { featureMapsStep } from './feature-maps.js';
import { filterPatternsStep } from './filter-patterns.js';
import { figuresStep } from './figures.js';
import { mistakesStep } from './mistakes.js';
import { ownImagesStep } from './own-images.js';
import { reportStep } from './report.js';
import { trainStep } from './train.js';
import { weightsStep } from './weights.js';

/**
 * The steps, in pipeline order: the one place a step is added. `--help`, `--only`/`--from`/`--to`
 * and run.json's `pipeline` follow this list (a DESIGN.md contract: these names, this order).
 */
export const STEPS: readonly Step<RunStore>[] = [downloadStep, trainStep, checkpointStep, weightsStep, featureMapsStep, filterPatternsStep, attentionStep, mistakesStep, ownImagesStep, figuresStep, reportStep];

export const STEP_NAMES: readonly string[] = STEPS.map((s) => s.name);
