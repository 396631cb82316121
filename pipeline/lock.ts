import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import { BadInputError } from './errors.js';

interface Owner {
  pid: number;
  host: string;
  started: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One writer per run folder. proper-lockfile owns the atomic mkdir lock and keeps it fresh; we add
 * the holder's PID beside it so that a second writer is told who holds it, and so that the lock of
 * a process that was killed is taken over at once instead of after the staleness timeout.
 */
export async function lockRun(runDir: string, runId: string): Promise<() => Promise<void>> {
  await mkdir(runDir, { recursive: true });
  const lockPath = join(runDir, '.lock');
  const ownerFile = join(runDir, '.lock-owner.json');
  const options = {
    lockfilePath: lockPath,
    realpath: false,
    stale: 60_000,
    update: 5_000,
    retries: 0,
    onCompromised: (err: Error) => {
      process.stderr.write(`error: the lock of run ${runId} was lost (${err.message}); stopping so two writers never mix\n`);
      process.exit(1);
    },
  };
  for (let attempt = 0; ; attempt++) {
    try {
      const release = await lockfile.lock(runDir, options);
      const owner: Owner = { pid: process.pid, host: (await import('node:os')).hostname(), started: new Date().toISOString() };
      await writeFile(ownerFile, JSON.stringify(owner));
      return async () => {
        await rm(ownerFile, { force: true });
        await release();
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw err;
      const owner = await readFile(ownerFile, 'utf8')
        .then((t) => JSON.parse(t) as Owner)
        .catch(() => null);
      const sameHost = owner && owner.host === (await import('node:os')).hostname();
      if (attempt === 0 && owner && sameHost && !alive(owner.pid)) {
        // The holder was killed (kill -9 runs no exit handler): its lock is ours to take.
        await rm(lockPath, { recursive: true, force: true });
        continue;
      }
      const who = owner ? `process ${owner.pid} on ${owner.host} (since ${owner.started})` : 'another process';
      throw new BadInputError(
        `run ${runId} is being written by ${who}: wait for it to finish, or use another --run id. ` +
          `If no such process exists, delete ${lockPath}.`,
      );
    }
  }
}
