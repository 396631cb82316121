import type { Step } from '../pipeline/step.js';

/** Placeholder until its issue lands. */
export const weightsStep: Step = {
  name: 'weights',
  version: 0,
  params: () => ({}),
  reads: () => [],
  writes: () => [],
  async run() {
    throw new Error('step weights is not implemented yet');
  },
};
