import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { isAbsent } from './errors.js';

export function sha256(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Digests already computed in this process, by path, with the file's identity when it was read.
 * One run hashes the same files several times (the dataset is read by train, checkpoint and
 * feature-maps; a step's outputs are the next step's inputs). Every artifact write is a rename of a
 * new file (a new inode) and any write in place changes ctime, so a file whose identity is unchanged
 * still has these bytes.
 */
const fileDigests = new Map<string, { identity: string; digest: string }>();

export async function sha256File(path: string): Promise<string> {
  const s = await stat(path, { bigint: true });
  const identity = `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
  const known = fileDigests.get(path);
  if (known?.identity === identity) return known.digest;
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  const digest = hash.digest('hex');
  fileDigests.set(path, { identity, digest });
  return digest;
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listFiles(full)));
    else if (entry.isFile() && !entry.name.endsWith('.tmp')) out.push(full);
  }
  return out;
}

/**
 * One digest for a set of files and folders: what a step reads or wrote. Names enter relative to
 * the path given, so a run folder that moves keeps its digests. A missing path is part of the
 * digest (as "missing"), so deleting an output changes it too.
 */
export async function digestPaths(paths: string[]): Promise<string> {
  const hash = createHash('sha256');
  for (const path of [...paths].sort()) {
    // Only a path that is not there is "missing"; a stat that fails otherwise (EACCES, EIO) is an error.
    const info = await stat(path).catch((err: unknown) => {
      if (isAbsent(err)) return null;
      throw err;
    });
    if (!info) {
      hash.update(`${basename(path)}\0missing\n`);
    } else if (info.isDirectory()) {
      for (const file of (await listFiles(path)).sort()) {
        hash.update(`${relative(path, file)}\0${await sha256File(file)}\n`);
      }
    } else {
      hash.update(`${basename(path)}\0${await sha256File(path)}\n`);
    }
  }
  return hash.digest('hex');
}

/** JSON with keys sorted at every level, so that the same data always gives the same bytes. */
export function stableStringify(value: unknown, indent = 2): string {
  return JSON.stringify(sortKeys(value), null, indent);
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object' && !ArrayBuffer.isView(value)) {
    const obj = value as Record<string, unknown>;
    return Object.fromEntries(Object.keys(obj).sort().map((k) => [k, sortKeys(obj[k])]));
  }
  return value;
}
