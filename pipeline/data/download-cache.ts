import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { gzName, pinMismatch, type DatasetFile } from '../catalog/dataset.js';
import { sha256, sha256File } from '../core/hash.js';
import { gunzipAsync, isGzip } from '../catalog/idx.js';
import { writeFileSafe, writeJson } from '../core/files.js';
import { dict, int, loose, num } from '../core/schema-kit.js';
import * as v from 'valibot';

const gzipAsync = promisify(gzip);

/** What the cache knows of one verified .gz file. */
const CacheEntrySchema = loose({
  /** Where the verified bytes came from: a path, a URL, a .deb. */
  source: v.string(),
  gz_bytes: int(),
  /** When the verified copy was written; informational, trust rests on gz_sha256. */
  gz_mtime_ms: num(),
  /** SHA-256 of the .gz bytes as cached: a later check hashes these instead of decompressing. */
  gz_sha256: v.string(),
  /** Decompressed size and SHA-256 (equal to the pins when the entry was written). */
  bytes: int(),
  sha256: v.string(),
  verified_at: v.string(),
});
export type CacheEntry = v.InferOutput<typeof CacheEntrySchema>;

/** <cache>/manifest.json, keyed by .gz file name. */
const CacheManifestSchema = loose({ files: dict(CacheEntrySchema) });
export type CacheManifest = v.InferOutput<typeof CacheManifestSchema>;

export function cacheManifestPath(dir: string): string {
  return join(dir, 'manifest.json');
}

/** The manifest, or an empty one when missing or unreadable (the files are then re-verified). */
export async function readCacheManifest(dir: string): Promise<{ manifest: CacheManifest; problem?: string }> {
  const path = cacheManifestPath(dir);
  const text = await readFile(path, 'utf8').catch(() => null);
  if (text === null) return { manifest: { files: {} } };
  // Unlike a run's artifacts, a bad manifest is not an error: the files it vouches for are verified
  // against the pinned hashes again, and a good manifest is written.
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const checked = v.safeParse(CacheManifestSchema, parsed);
  if (checked.success) return { manifest: { files: checked.output.files } };
  return { manifest: { files: {} }, problem: `${path} is not a valid cache manifest; re-verifying the cached files` };
}

export async function writeCacheManifest(dir: string, manifest: CacheManifest): Promise<void> {
  await writeJson(cacheManifestPath(dir), manifest);
}

/**
 * A cached file is trusted without decompressing when its size and SHA-256 are those recorded
 * when it was verified against the pin. Hashing the ~30 MB of .gz costs tens of milliseconds, and
 * unlike size + mtime it catches a changed byte whatever the file's mtime says.
 */
export async function cachedFileMatches(dir: string, file: DatasetFile, entry: CacheEntry | undefined): Promise<boolean> {
  if (!entry || entry.bytes !== file.bytes || entry.sha256 !== file.sha256) return false;
  const path = join(dir, gzName(file));
  const info = await stat(path).catch(() => null);
  if (!info || info.size !== entry.gz_bytes) return false;
  return (await sha256File(path)) === entry.gz_sha256;
}

export type Verified = { ok: true; gz: Uint8Array } | { ok: false; why: string };

/**
 * Checks bytes as a source has them (gzip or raw IDX) against the pinned SHA-256 of the
 * decompressed file; gives the .gz to cache (raw bytes are gzipped).
 */
export async function verifyAgainstPin(file: DatasetFile, bytes: Uint8Array, origin: string): Promise<Verified> {
  let raw = bytes;
  if (isGzip(bytes)) {
    try {
      raw = await gunzipAsync(bytes);
    } catch (err) {
      return { ok: false, why: `damaged gzip data from ${origin} (${(err as Error).message})` };
    }
  }
  const why = pinMismatch(file, raw);
  if (why) return { ok: false, why };
  return { ok: true, gz: isGzip(bytes) ? bytes : await gzipAsync(raw) };
}

/** Writes a verified .gz into the cache (atomically) and returns its manifest entry. */
export async function storeVerified(dir: string, file: DatasetFile, gz: Uint8Array, source: string): Promise<CacheEntry> {
  await writeFileSafe(join(dir, gzName(file)), gz);
  return cacheEntry(dir, file, gz, source);
}

/** The manifest entry of a verified .gz that is in the cache as `gz`. */
export async function cacheEntry(dir: string, file: DatasetFile, gz: Uint8Array, source: string): Promise<CacheEntry> {
  const info = await stat(join(dir, gzName(file)));
  return {
    source,
    gz_bytes: info.size,
    gz_mtime_ms: info.mtimeMs,
    gz_sha256: sha256(gz),
    bytes: file.bytes,
    sha256: file.sha256,
    verified_at: new Date().toISOString(),
  };
}
