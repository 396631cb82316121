/**
 * Atomic file writes: the bytes go to a temporary file beside the target, which is renamed over
 * the target only once every byte is on disk. A kill at any moment leaves the old file or none.
 *
 * Why not write-file-atomic (which this replaced): up to its v8 it issues one fs.write and ignores
 * the byte count it returns. On a full disk write(2) writes what fits and reports a short count,
 * not an error, so write-file-atomic renamed a truncated file over the good one and resolved as
 * if all was well (reproduced on a 2 MB tmpfs: a 3 MB write "succeeded" as a 2 MB file; the
 * fault suite keeps that case). FileHandle.writeFile loops until every byte is written and throws
 * ENOSPC when the next write finds no room; the size is checked again before the rename.
 */
import { writeSync } from 'node:fs';
import { open, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { faultPoint } from './fault.js';
import { alive } from './lock.js';

/** Temporary files end in .tmp (digestPaths skips them) and carry the writer's PID. */
const TEMP = /\.(\d+)\.\d+\.tmp$/;
let serial = 0;

export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${serial++}.tmp`);
  try {
    const file = await open(tmp, 'wx');
    try {
      faultPoint(`write:${basename(path)}`, () => writeSync(file.fd, bytes.subarray(0, bytes.length >> 1)));
      await file.writeFile(bytes);
      await file.sync();
      const written = (await file.stat()).size;
      if (written !== bytes.byteLength) throw new Error(`wrote ${written} of ${bytes.byteLength} bytes to ${tmp}`);
    } finally {
      await file.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw withPath(err, path);
  }
}

/** fs errors from writing through a file handle name no file: give them the target's path. */
function withPath(err: unknown, path: string): unknown {
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e.code === 'string' && e.path === undefined) e.path = path;
  return err;
}

/**
 * Removes, under `dir`, the temporary files of writers that no longer run (a kill -9 leaves its
 * half-written temporary file behind). Returns how many it removed; a missing `dir` is none.
 */
export async function removeStaleTemps(dir: string): Promise<number> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  let removed = 0;
  for (const entry of entries) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) {
      removed += await removeStaleTemps(full);
    } else {
      const m = TEMP.exec(entry.name);
      if (m && Number(m[1]) !== process.pid && !alive(Number(m[1])) && (await stat(full).catch(() => null))?.isFile()) {
        await rm(full, { force: true });
        removed++;
      }
    }
  }
  return removed;
}
