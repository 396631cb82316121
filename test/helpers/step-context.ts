/** What the runner hands a step, for calling a step directly on a test's run folder. */
import { consoleLogger, type Logger } from '../../pipeline/core/log.js';
import type { Params } from '../../pipeline/core/params.js';
import type { Artifacts, Step, StepContext } from '../../pipeline/core/step.js';
export { pathsOf } from '../../pipeline/core/step.js';
import type { RunStore } from '../../pipeline/catalog/store.js';

export interface ContextOptions {
  log?: Logger;
  backend?: string;
  force?: boolean;
}

/**
 * The context the runner builds for `step` on `store`: its declared inputs and outputs (for a
 * staging view, `store.withStaging(step.name, dir)`, the outputs point into `dir`, as the
 * runner's do).
 */
export function stepContext<I extends Artifacts, O extends Artifacts>(
  step: Step<RunStore, I, O>,
  params: Params,
  store: RunStore,
  opts: ContextOptions = {},
): StepContext<I, O> {
  return {
    params,
    runId: store.runId,
    inputs: step.inputs(store, params),
    outputs: step.outputs(store),
    log: opts.log ?? consoleLogger({ quiet: true }),
    backend: opts.backend ?? 'cpu',
    force: opts.force ?? false,
  };
}
