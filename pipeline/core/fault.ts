/**
 * Crash points for the fault suite (test/faults.test.ts): `CNN_LENS_FAULT=<point>[@<n>]` makes the
 * process SIGKILL itself the n-th time (default: the first) it reaches <point>, so that a test can
 * stop the real CLI at a precise moment that no outside timing could hit reliably. A kill -9 runs
 * no exit handler and no finally block: exactly what a crash or an OOM kill leaves behind.
 *
 * Points (each a one-line hook):
 *   step-done:<step>     runner: the step returned; a staged step's staging folder is complete but
 *                        not swapped in, an unstaged step's outputs are not yet recorded in run.json
 *   swap:<folder>        store.swapDir: the old folder renamed to <folder>.old, the new one not yet
 *                        renamed into place (<folder> is the target's base name, e.g. "figures")
 *   write:<file>         atomic-file.writeFileAtomic (every artifact write): the temporary file
 *                        beside <file> (a base name, e.g. "tensors.bin") holds half of the new
 *                        bytes, the target is untouched
 *   epoch-unpointed      train/state.ts: an epoch's tensors.bin and tensors.json are written,
 *                        latest.json does not point at them yet
 * Unset (always, outside the tests), every hook is one string comparison.
 */
const spec = /^(?<point>[^@]+)(?:@(?<hit>\d+))?$/.exec(process.env.CNN_LENS_FAULT ?? '')?.groups;
const wanted = spec ? { point: spec.point, hit: Number(spec.hit ?? 1) } : null;
let hits = 0;

/** Kills this process with SIGKILL when CNN_LENS_FAULT names `point` (and this is its n-th hit). */
export function faultPoint(point: string, beforeKill?: () => void): void {
  if (wanted?.point !== point || ++hits !== wanted.hit) return;
  beforeKill?.();
  process.stderr.write(`fault: SIGKILL at ${point}${wanted.hit > 1 ? `@${wanted.hit}` : ''}\n`);
  process.kill(process.pid, 'SIGKILL');
}
