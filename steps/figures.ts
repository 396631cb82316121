import type { Step } from '../pipeline/step.js';

/** Placeholder until its issue lands. */
export const figuresStep: Step = {
  name: 'figures',
  version: 0,
  params: () => ({}),
  reads: () => [],
  writes: () => [],
  async run() {
    throw new Error('step figures is not implemented yet');
  },
};
