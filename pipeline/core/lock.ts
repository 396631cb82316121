/**
 * One holder per folder: the lock is the folder `<dir>/.lock`, holding `owner.json` (who holds it).
 *
 * Why not proper-lockfile (which this replaced): its lock is an empty folder made by mkdir, and the
 * holder's name could only be written after it, beside it; a process that came in between read the
 * previous, dead holder's name and broke the live lock. Its own stale-lock takeover (rmdir, then
 * mkdir) has the same race between two takers (moxystudio/node-proper-lockfile#121, open), and it
 * judges staleness by mtime alone, so a live holder whose event loop stalled past the threshold
 * lost its lock. Here:
 *  - the owner record exists from the instant the lock does: it is written into a temporary folder
 *    that is then renamed to `.lock` (rename(2) onto an existing, non-empty folder fails);
 *  - a lock is stale only when its record names a process on this host that no longer runs (a kill
 *    -9 runs no exit handler); a lock of another host, or without a record, is never broken;
 *  - breaking a stale lock is itself a lock: the breaker takes `.lock/break-<id of the record it
 *    judged>` (the same way, so a dead breaker's claim is broken in turn), then checks that `.lock`
 *    still holds that record. A claim that landed in a newer lock (the dead one was broken and
 *    retaken meanwhile) can remove nothing, as it names another record; it is withdrawn and the
 *    newer lock judged afresh. Only the claimant of a lock removes it (moved aside by rename, then
 *    deleted), so two breakers cannot both win and none removes a live lock.
 *  - the holder checks its record (on a timer, and before each write that the caller guards): a
 *    lock that was removed or replaced is lost, an error.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, renameSync, rmSync } from 'node:fs';
import { lstat, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, join } from 'node:path';
import { BadInputError, isAbsent } from './errors.js';
import { faultPoint } from './fault.js';
import type { Logger } from './log.js';

export interface LockOwner {
  pid: number;
  host: string;
  started: string;
  /** The holder's command line (script base name and arguments), for a person who must decide. */
  command: string;
  /** This holding's identity: a record with another id is another lock, even with the same PID. */
  id: string;
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

/** The lock is held by a live process (or one whose record is unknown): `owner` says who. */
export class LockHeldError extends Error {
  readonly code = 'ELOCKED';
  constructor(
    readonly lockPath: string,
    readonly owner: LockOwner | null,
  ) {
    super(`${lockPath} is held by ${describeOwner(owner)}`);
  }
}

/** The lock this process took was removed, or replaced by another holder's. */
export class LockLostError extends Error {
  constructor(
    readonly lockPath: string,
    readonly now: LockOwner | null,
  ) {
    super(`${lockPath} was ${now ? `taken by ${describeOwner(now)}` : 'removed'}`);
  }
}

export function describeOwner(owner: LockOwner | null): string {
  return owner ? `process ${owner.pid} on ${owner.host} (since ${owner.started})` : 'another process';
}

export interface HeldLock {
  readonly path: string;
  readonly owner: LockOwner;
  /** The dead holder whose lock this one replaced, if any. */
  readonly tookOver: LockOwner | null;
  /** Throws LockLostError unless `.lock` still holds this holding's record. */
  assertHeld(): Promise<void>;
  /** Removes the lock; throws LockLostError (and removes nothing) when it was lost. */
  release(): Promise<void>;
}

export interface LockOptions {
  /** How often the holder checks that its record is still there (ms). */
  watchMs: number;
  /** Called once when the check finds the lock lost; assertHeld and release throw from then on. */
  onLost?: (err: LockLostError) => void;
}

const OWNER = 'owner.json';
/** Temporary and removed-lock folders beside `.lock`: `.lock.<pid>.<n>.tmp` / `.gone`. */
const SCRATCH = /^\.lock\.(\d+)\.\d+\.(tmp|gone)$/;
let serial = 0;

type Found = { kind: 'absent' } | { kind: 'record'; owner: LockOwner } | { kind: 'foreign' };

/** What is at `path`: nothing, a lock with a readable record, or something else (never broken). */
async function inspect(path: string): Promise<Found> {
  const text = await readFile(join(path, OWNER), 'utf8').catch((err: unknown) => (isAbsent(err) ? null : Promise.reject(err)));
  if (text !== null) return parseOwner(text) ?? { kind: 'foreign' };
  return (await lstat(path).catch(() => null)) ? { kind: 'foreign' } : { kind: 'absent' };
}

function parseOwner(text: string): { kind: 'record'; owner: LockOwner } | null {
  try {
    const o = JSON.parse(text) as Partial<LockOwner>;
    if (typeof o.pid === 'number' && typeof o.host === 'string' && typeof o.started === 'string' && typeof o.id === 'string' && /^[\w-]+$/.test(o.id)) {
      return { kind: 'record', owner: { pid: o.pid, host: o.host, started: o.started, command: String(o.command ?? ''), id: o.id } };
    }
  } catch {
    // not JSON: foreign
  }
  return null;
}

/** A lock is stale only when its holder is known to be gone: same host, PID not running. */
const isStale = (owner: LockOwner) => owner.host === hostname() && !alive(owner.pid);

const scratchPath = (dir: string, kind: 'tmp' | 'gone') => join(dir, `.lock.${process.pid}.${serial++}.${kind}`);

/** Moves a lock aside (atomically) and deletes it; false when nothing was at `path`. */
async function removeLock(path: string, scratch: string): Promise<boolean> {
  const gone = scratchPath(scratch, 'gone');
  try {
    await rename(path, gone);
  } catch (err) {
    if (isAbsent(err)) return false;
    throw err;
  }
  await rm(gone, { recursive: true, force: true });
  return true;
}

/** Folders left beside `.lock` by a process killed between two renames. */
async function sweepScratch(dir: string): Promise<void> {
  for (const name of await readdir(dir).catch(() => [])) {
    const m = SCRATCH.exec(name);
    if (m && Number(m[1]) !== process.pid && !alive(Number(m[1]))) await rm(join(dir, name), { recursive: true, force: true });
  }
}

type Taken = { taken: true; owner: LockOwner; tookOver: LockOwner | null } | { taken: false; owner: LockOwner | null } | { taken: false; gone: true };

/**
 * Takes the lock folder `path` (its temporaries go to `scratch`, on the same file system). Not
 * taken: `owner` is the live (or unknown) holder; `gone`: `path`'s parent vanished (a claim on a
 * lock that was removed meanwhile).
 */
async function take(path: string, scratch: string, point: string | null): Promise<Taken> {
  let tookOver: LockOwner | null = null;
  let last: LockOwner | null = null;
  for (let attempt = 0; attempt < 50; attempt++) {
    const owner: LockOwner = {
      pid: process.pid,
      host: hostname(),
      started: new Date().toISOString(),
      command: [basename(process.argv[1] ?? ''), ...process.argv.slice(2)].join(' '),
      id: randomUUID(),
    };
    // rename(2) replaces an empty folder: look first, so that an empty `.lock` (made by an older
    // cnn-lens, whose record lay beside it) is judged, not replaced.
    if (!(await lstat(path).catch(() => null))) {
      const tmp = scratchPath(scratch, 'tmp');
      await mkdir(tmp);
      try {
        await writeFile(join(tmp, OWNER), JSON.stringify(owner));
        await rename(tmp, path);
        if (point) faultPoint(`lock-held:${point}`);
        return { taken: true, owner, tookOver };
      } catch (err) {
        await rm(tmp, { recursive: true, force: true });
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') return { taken: false, gone: true };
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'ENOTDIR') throw err;
      }
    }
    const found = await inspect(path);
    if (found.kind === 'absent') continue; // released meanwhile: try again
    if (found.kind === 'foreign' || !isStale(found.owner)) return { taken: false, owner: found.kind === 'record' ? found.owner : null };
    const dead = found.owner;
    if (point) faultPoint(`lock-stale:${point}`);
    const claimPath = join(path, `break-${dead.id}`);
    const claim = await take(claimPath, scratch, null);
    if ('gone' in claim) continue; // the dead lock was removed meanwhile
    const now = await inspect(path);
    const same = now.kind === 'record' && now.owner.id === dead.id;
    if (!claim.taken) {
      if (same) return { taken: false, owner: claim.owner ?? dead }; // a live process is taking it over
      continue; // a newer lock: judge it afresh
    }
    if (same) {
      if (point) faultPoint(`lock-breaking:${point}`);
      await removeLock(path, scratch); // the claim goes with it
      tookOver = dead;
    } else {
      // The claim landed in a newer lock (the dead one was broken and retaken meanwhile), where it
      // names a record that is not there: inert, withdrawn for tidiness.
      await removeLock(claimPath, scratch);
    }
    last = now.kind === 'record' ? now.owner : null;
  }
  return { taken: false, owner: last };
}

/** Locks held by this process, dropped by the exit handler (Ctrl-C exits through process.exit). */
const held = new Map<string, { id: string; scratch: string }>();
let exitHook = false;

function dropAllSync(): void {
  for (const [path, { id, scratch }] of held) {
    try {
      if (parseOwner(readFileSync(join(path, OWNER), 'utf8'))?.owner.id !== id) continue;
      const gone = scratchPath(scratch, 'gone');
      renameSync(path, gone);
      rmSync(gone, { recursive: true, force: true });
    } catch {
      // exiting: a lock left behind names a dead process, which the next taker breaks
    }
  }
  held.clear();
}

/**
 * Takes `<dir>/.lock`. Throws LockHeldError when a live process (or an unknown one) holds it.
 * Fault points (pipeline/core/fault.ts), <name> being dir's base name: `lock-held:<name>` (taken,
 * record in place), `lock-stale:<name>` (found a dead holder's lock, not yet claimed),
 * `lock-breaking:<name>` (claimed the dead lock, not yet removed).
 */
export async function lockWithOwner(dir: string, options: LockOptions): Promise<HeldLock> {
  const path = join(dir, '.lock');
  await sweepScratch(dir);
  const result = await take(path, dir, basename(dir));
  if (!result.taken) throw new LockHeldError(path, 'owner' in result ? result.owner : null);
  const { owner, tookOver } = result;
  held.set(path, { id: owner.id, scratch: dir });
  if (!exitHook) {
    process.on('exit', dropAllSync);
    exitHook = true;
  }
  let lost: LockLostError | null = null;
  let released = false;
  let reported = false;
  const check = async (): Promise<void> => {
    if (lost) throw lost;
    const now = await inspect(path);
    if (now.kind === 'record' && now.owner.id === owner.id) return;
    lost = new LockLostError(path, now.kind === 'record' ? now.owner : null);
    clearInterval(timer);
    held.delete(path);
    throw lost;
  };
  const timer = setInterval(() => {
    check().catch((err: unknown) => {
      if (!(err instanceof LockLostError) || released || reported) return; // EIO on a read: checked again next time
      reported = true;
      options.onLost?.(err);
    });
  }, options.watchMs);
  timer.unref();
  return {
    path,
    owner,
    tookOver,
    assertHeld: check,
    async release() {
      if (released) return;
      released = true;
      clearInterval(timer);
      try {
        await check();
      } finally {
        held.delete(path);
      }
      await removeLock(path, dir);
    },
  };
}

/** One writer per run folder; a second writer is refused at once, told who holds the run. */
export async function lockRun(runDir: string, runId: string, log?: Logger): Promise<() => Promise<void>> {
  await mkdir(runDir, { recursive: true });
  const lostMessage = (err: LockLostError) => `the lock of run ${runId} was lost (${err.message}); stopping so two writers never mix`;
  try {
    const lock = await lockWithOwner(runDir, {
      watchMs: 5_000,
      onLost: (err) => {
        process.stderr.write(`error: ${lostMessage(err)}\n`);
        process.exit(1);
      },
    });
    if (lock.tookOver) log?.info(`took over the lock of run ${runId} from ${describeOwner(lock.tookOver)}, which no longer runs`);
    return () =>
      lock.release().catch((err: unknown) => {
        throw err instanceof LockLostError ? new Error(lostMessage(err)) : err;
      });
  } catch (err) {
    if (!(err instanceof LockHeldError)) throw err;
    throw new BadInputError(
      `run ${runId} is being written by ${describeOwner(err.owner)}: wait for it to finish, or use another --run id. ` +
        `If no such process exists, delete ${err.lockPath}.`,
    );
  }
}

/**
 * Whether `<dir>/.lock` is held, read only (`npm run runs` lists a run being written as running):
 * held by a live process, or by an unknown one (`owner` null: a lock without a readable record is
 * never broken); not held when there is no lock or its holder is gone (the next taker breaks it).
 */
export async function lockState(dir: string): Promise<{ held: false } | { held: true; owner: LockOwner | null }> {
  const found = await inspect(join(dir, '.lock'));
  if (found.kind === 'absent' || (found.kind === 'record' && isStale(found.owner))) return { held: false };
  return { held: true, owner: found.kind === 'record' ? found.owner : null };
}
