import type { Step } from '../pipeline/step.js';

/** Placeholder until its issue lands. */
export const featureMapsStep: Step = {
  name: 'feature-maps',
  version: 0,
  params: () => ({}),
  reads: () => [],
  writes: () => [],
  async run() {
    throw new Error('step feature-maps is not implemented yet');
  },
};
