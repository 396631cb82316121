/** Files on disk: atomic writes, JSON with stable key order, folder swaps. */
import { constants } from 'node:fs';
import { access, mkdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { writeFileAtomic } from './atomic-file.js';
import { BadInputError, messageOf } from './errors.js';
import { faultPoint } from './fault.js';
import { stableStringify } from './hash.js';

/** Atomic: written beside the target, then renamed over it; a crash leaves the old file or none. */
export async function writeFileSafe(path: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFileAtomic(path, typeof data === 'string' ? Buffer.from(data) : data);
}

/** JSON with stable key order (artifacts diff cleanly), written atomically. */
export async function writeJson(path: string, value: unknown): Promise<void> {
  await writeFileSafe(path, stableStringify(value) + '\n');
}

/**
 * Fails now, naming the folder and the fix, when the nearest existing folder at or above `dir`
 * cannot be written (a read-only mount, no permission), rather than halfway through a step.
 */
export async function checkWritable(dir: string): Promise<void> {
  let probe = resolve(dir);
  while (!(await exists(probe)) && dirname(probe) !== probe) probe = dirname(probe);
  try {
    await access(probe, constants.W_OK);
  } catch (err) {
    throw new BadInputError(messageOf(err));
  }
}

export async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => null)) !== null;
}

/**
 * Replaces a folder by a fully written staging folder. Between the two renames a crash leaves no
 * folder at `target` (only `target.old`), which the runner sees as "output missing" and redoes;
 * it never leaves a half-written folder in place.
 */
export async function swapDir(staging: string, target: string): Promise<void> {
  const old = `${target}.old`;
  await rm(old, { recursive: true, force: true });
  if (await exists(target)) await rename(target, old);
  faultPoint(`swap:${basename(target)}`);
  await rename(staging, target);
  await rm(old, { recursive: true, force: true });
}

