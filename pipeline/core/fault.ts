/**
 * Crash points for the fault suite (test/faults.test.ts): `CNN_LENS_FAULT=<point>[@<n>]` makes the
 * process SIGKILL itself the n-th time (default: the first) it reaches <point>, so that a test can
 * stop the real CLI at a precise moment that no outside timing could hit reliably. A kill -9 runs
 * no exit handler and no finally block: exactly what a crash or an OOM kill leaves behind.
 * `CNN_LENS_FAULT=<point>[@<n>],pause-until=<file>` pauses there instead (saying
 * `fault: paused at <point>` on stderr) until <file> exists, then goes on: a test orders several
 * processes by creating the file (test/lock.test.ts). The pause blocks the whole process, timers
 * included, as a stopped process would be.
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
 *   lock-held:<name>     lock.ts: <dir>/.lock taken, its owner record in place (<name> is dir's
 *                        base name: the run id, or "fashion-mnist" for the dataset cache)
 *   lock-stale:<name>    lock.ts: found a lock whose holder no longer runs, not yet claimed
 *   lock-breaking:<name> lock.ts: won the claim on that dead lock, not yet removed it
 * Unset (always, outside the tests), every hook is one string comparison.
 */
import { existsSync } from 'node:fs';

const spec = /^(?<point>[^@,]+)(?:@(?<hit>\d+))?(?:,pause-until=(?<until>.+))?$/.exec(process.env.CNN_LENS_FAULT ?? '')?.groups;
const wanted = spec ? { point: spec.point, hit: Number(spec.hit ?? 1), until: spec.until } : null;
let hits = 0;

/**
 * Kills this process with SIGKILL when CNN_LENS_FAULT names `point` (and this is its n-th hit), or
 * pauses it until the named file exists.
 */
export function faultPoint(point: string, beforeKill?: () => void): void {
  if (wanted?.point !== point || ++hits !== wanted.hit) return;
  if (wanted.until !== undefined) return pauseUntil(point, wanted.until);
  beforeKill?.();
  process.stderr.write(`fault: SIGKILL at ${point}${wanted.hit > 1 ? `@${wanted.hit}` : ''}\n`);
  process.kill(process.pid, 'SIGKILL');
}

function pauseUntil(point: string, file: string): void {
  process.stderr.write(`fault: paused at ${point} until ${file} exists\n`);
  const nap = new Int32Array(new SharedArrayBuffer(4));
  while (!existsSync(file)) Atomics.wait(nap, 0, 0, 20);
  process.stderr.write(`fault: released at ${point}\n`);
}
