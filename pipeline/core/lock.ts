import { rmSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import { BadInputError } from './errors.js';

export interface LockOwner {
  pid: number;
  host: string;
  started: string;
}

/** Whether a process with this PID runs on this host (EPERM: it does, as another user). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The lock is held by a live process (or one whose PID is unknown): `owner` says who. */
export class LockHeldError extends Error {
  readonly code = 'ELOCKED';
  constructor(
    readonly lockPath: string,
    readonly owner: LockOwner | null,
  ) {
    super(`${lockPath} is held by ${describeOwner(owner)}`);
  }
}

export function describeOwner(owner: LockOwner | null): string {
  return owner ? `process ${owner.pid} on ${owner.host} (since ${owner.started})` : 'another process';
}

/**
 * One holder per folder. proper-lockfile owns the atomic mkdir lock (`<dir>/.lock`) and keeps it
 * fresh; we add the holder's PID beside it (`<dir>/.lock-owner.json`) so that a waiting process is
 * told who holds it, and so that the lock of a process that was killed (kill -9 runs no exit
 * handler) is taken over at once instead of after proper-lockfile's staleness timeout.
 * Throws LockHeldError when a live process holds it.
 */
export async function lockWithOwner(
  dir: string,
  options: { stale: number; update?: number; onCompromised: (err: Error) => void },
): Promise<() => Promise<void>> {
  const lockPath = join(dir, '.lock');
  const ownerFile = join(dir, '.lock-owner.json');
  for (let attempt = 0; ; attempt++) {
    try {
      const release = await lockfile.lock(dir, { ...options, lockfilePath: lockPath, realpath: false, retries: 0 });
      const owner: LockOwner = { pid: process.pid, host: hostname(), started: new Date().toISOString() };
      await writeFile(ownerFile, JSON.stringify(owner));
      // An interrupted process (Ctrl-C) exits through process.exit: proper-lockfile drops its lock
      // there, and so do we with the owner file. Only kill -9 leaves them, which the PID check handles.
      const dropOwner = () => rmSync(ownerFile, { force: true });
      process.once('exit', dropOwner);
      return async () => {
        process.off('exit', dropOwner);
        await rm(ownerFile, { force: true });
        await release();
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw err;
      const owner = await readFile(ownerFile, 'utf8')
        .then((t) => JSON.parse(t) as LockOwner)
        .catch(() => null);
      if (attempt === 0 && owner && owner.host === hostname() && !alive(owner.pid)) {
        await rm(lockPath, { recursive: true, force: true });
        continue;
      }
      throw new LockHeldError(lockPath, owner);
    }
  }
}

/** One writer per run folder; a second writer is refused at once, told who holds the run. */
export async function lockRun(runDir: string, runId: string): Promise<() => Promise<void>> {
  await mkdir(runDir, { recursive: true });
  try {
    return await lockWithOwner(runDir, {
      stale: 60_000,
      update: 5_000,
      onCompromised: (err: Error) => {
        process.stderr.write(`error: the lock of run ${runId} was lost (${err.message}); stopping so two writers never mix\n`);
        process.exit(1);
      },
    });
  } catch (err) {
    if (!(err instanceof LockHeldError)) throw err;
    throw new BadInputError(
      `run ${runId} is being written by ${describeOwner(err.owner)}: wait for it to finish, or use another --run id. ` +
        `If no such process exists, delete ${err.lockPath}.`,
    );
  }
}
