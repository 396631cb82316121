import type { Step } from '../pipeline/step.js';

/** Placeholder until its issue lands. */
export const downloadStep: Step = {
  name: 'download',
  version: 0,
  params: () => ({}),
  reads: () => [],
  writes: () => [],
  async run() {
    throw new Error('step download is not implemented yet');
  },
};
