import type { Step } from '../pipeline/step.js';

/** Placeholder until its issue lands. */
export const trainStep: Step = {
  name: 'train',
  version: 0,
  params: () => ({}),
  reads: () => [],
  writes: () => [],
  async run() {
    throw new Error('step train is not implemented yet');
  },
};
