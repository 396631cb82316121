import type { Step } from '../pipeline/step.js';

/** Placeholder until its issue lands. */
export const checkpointStep: Step = {
  name: 'checkpoint',
  version: 0,
  params: () => ({}),
  reads: () => [],
  writes: () => [],
  async run() {
    throw new Error('step checkpoint is not implemented yet');
  },
};
