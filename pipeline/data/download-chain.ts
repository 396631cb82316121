import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DATASET_FILES, gzName, type DatasetFile } from '../catalog/dataset.js';
import {
  cacheEntry,
  cachedFileMatches,
  readCacheManifest,
  storeVerified,
  verifyAgainstPin,
  writeCacheManifest,
  type CacheManifest,
} from './download-cache.js';
import { describeOwner, LockHeldError, LockLostError, lockWithOwner, type HeldLock } from '../core/lock.js';
import type { Logger } from '../core/log.js';
import { SourceError, type Source } from './sources/source.js';

export interface AcquireOptions {
  /** The shared cache, <artifacts>/data/fashion-mnist. */
  cacheDir: string;
  /** Where missing or bad files come from, in order; the first copy that verifies wins. */
  sources: Source[];
  log: Logger;
}

export const DATASET_FIXES =
  "install Debian's copy (sudo apt-get install dataset-fashion-mnist); or put the four files (.gz or raw IDX) " +
  'in a folder and pass --data-dir <dir> (or set FASHION_MNIST_DIR); or make one of the mirrors reachable ' +
  '(CNN_LENS_MIRRORS="url1,url2" replaces the default ones)';

/** Why each source failed, per file, for the one message that lists them all. */
class Failures {
  private readonly reasons = new Map<string, Map<string, string>>();
  constructor(private readonly labels: string[]) {}

  add(label: string, file: string, why: string): void {
    if (!this.reasons.has(label)) this.reasons.set(label, new Map());
    this.reasons.get(label)!.set(file, why);
  }

  message(failed: string[]): string {
    const lines = this.labels.map((label, i) => {
      const per = failed.map((f) => this.reasons.get(label)?.get(f) ?? 'not asked');
      const same = new Set(per).size === 1;
      return `  ${i + 1}. ${label}: ${same ? per[0] : failed.map((f, j) => `${f}: ${per[j]}`).join('; ')}`;
    });
    return [
      `Fashion-MNIST: no source gave a verified copy of ${failed.join(', ')}. Sources tried, in order:`,
      ...lines,
      `Fixes: ${DATASET_FIXES}.`,
    ].join('\n');
  }
}

/**
 * One writer at a time fills the shared cache; another pipeline waits for it (up to ~10 minutes).
 * The lock of a pipeline that was killed is taken over at once (lockWithOwner), not waited out.
 * `guard` is called before every write to the cache: a lost lock (removed, or taken by another
 * process) stops the writer there with an error, so that two writers never mix.
 */
async function lockCache(dir: string, log: Logger): Promise<{ guard: () => Promise<void>; release: () => Promise<void> }> {
  const lost = (err: unknown): never => {
    if (!(err instanceof LockLostError)) throw err;
    throw new Error(`the dataset cache lock ${err.message}: stopped before writing to ${dir} again, so that two writers never mix; run the same command again`);
  };
  for (let attempt = 0; ; attempt++) {
    let lock: HeldLock;
    try {
      lock = await lockWithOwner(dir, { watchMs: 5_000 });
    } catch (err) {
      if (!(err instanceof LockHeldError)) throw err;
      if (attempt === 300) {
        throw new Error(`the dataset cache ${dir} stayed locked by ${describeOwner(err.owner)}; try again when it is done, or delete ${err.lockPath} if no such process exists`);
      }
      if (attempt === 0) log.info(`waiting for another pipeline that is filling ${dir}`);
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      continue;
    }
    if (lock.tookOver) log.info(`took over the lock of ${dir} from ${describeOwner(lock.tookOver)}, which no longer runs`);
    return { guard: () => lock.assertHeld().catch(lost), release: () => lock.release().catch(lost) };
  }
}

/**
 * Source (a): the cache itself. A file whose bytes are those recorded when it was verified is
 * trusted as is; any other file found there is verified again (re-recorded when good).
 * Returns null when the cache holds a good copy, else why not.
 */
async function checkCached(dir: string, file: DatasetFile, manifest: CacheManifest, log: Logger, guard: () => Promise<void>): Promise<string | null> {
  const name = gzName(file);
  const entry = manifest.files[name];
  if (await cachedFileMatches(dir, file, entry)) {
    log.info(`${name}: cached, verified ${entry.verified_at} (from ${entry.source})`);
    return null;
  }
  const path = join(dir, name);
  const bytes = await readFile(path).catch(() => null);
  if (!bytes) return 'missing';
  const verified = await verifyAgainstPin(file, bytes, path);
  if (!verified.ok) {
    delete manifest.files[name];
    log.warn(`${path} changed since it was verified and fails verification (${verified.why}): replacing it`);
    return `${name} fails verification (${verified.why})`;
  }
  const source = entry?.source ?? path;
  if (verified.gz !== bytes) await guard();
  manifest.files[name] = verified.gz === bytes ? await cacheEntry(dir, file, bytes, source) : await storeVerified(dir, file, verified.gz, source);
  log.info(`${name}: cached, verified again (from ${source})`);
  return null;
}

/**
 * Fills the cache with the four verified files: each comes from the cache when it holds a good
 * copy, else from the first source whose copy matches the pinned SHA-256. Throws one error
 * listing every source and why it failed when a file cannot be had.
 */
export async function acquireDataset({ cacheDir, sources, log }: AcquireOptions): Promise<void> {
  await mkdir(cacheDir, { recursive: true });
  const { guard, release } = await lockCache(cacheDir, log);
  const cacheLabel = `cache ${cacheDir}`;
  const failures = new Failures([cacheLabel, ...sources.map((s) => s.label)]);
  const dead = new Map<Source, string>();
  const failed: string[] = [];
  try {
    const { manifest, problem } = await readCacheManifest(cacheDir);
    if (problem) log.warn(problem);
    const before = JSON.stringify(manifest);
    for (const file of DATASET_FILES) {
      const name = gzName(file);
      const cacheProblem = await checkCached(cacheDir, file, manifest, log, guard);
      if (cacheProblem === null) continue;
      failures.add(cacheLabel, name, cacheProblem);
      let done = false;
      for (const source of sources) {
        const deadReason = dead.get(source);
        if (deadReason !== undefined) {
          failures.add(source.label, name, deadReason);
          continue;
        }
        try {
          const found = await source.fetch(file, log);
          const verified = await verifyAgainstPin(file, found.bytes, found.origin);
          if (!verified.ok) {
            log.warn(`${found.origin} fails verification (${verified.why}): trying the next source`);
            failures.add(source.label, name, `${found.origin} fails verification (${verified.why})`);
            continue;
          }
          await guard();
          manifest.files[name] = await storeVerified(cacheDir, file, verified.gz, found.origin);
          await writeCacheManifest(cacheDir, manifest);
          log.info(`${name}: verified, from ${found.origin}`);
          done = true;
          break;
        } catch (err) {
          if (!(err instanceof SourceError)) throw err;
          failures.add(source.label, name, err.message);
          if (err.wholeSource) dead.set(source, err.message);
        }
      }
      if (!done) failed.push(name);
    }
    // Written only when something changed, so that a no-op run leaves the cache byte-identical.
    if (JSON.stringify(manifest) !== before) {
      await guard();
      await writeCacheManifest(cacheDir, manifest);
    }
  } finally {
    await Promise.all(sources.map((s) => s.close?.()));
    await release();
  }
  if (failed.length) throw new Error(failures.message(failed));
}
