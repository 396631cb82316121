/**
 * `--image <file>` (repeatable) and `--no-images`: the reader's pictures, judged before the run
 * folder is touched and copied into it (inputs/images/) under the run's lock. Each file's header
 * is checked first (format, size, pixel count: pipeline/catalog/image-file.ts), then it is
 * decoded once, so that a damaged file is refused too with nothing written. The pictures are the
 * own-images step's inputs, not params: they change neither the run id nor any other step.
 *
 * Without --image a run keeps the pictures it has (re-running a command must not drop them);
 * a new --image list replaces them whole; --no-images removes them.
 */
import { basename } from 'node:path';
import { readImageFile } from './catalog/image-file.js';
import type { NewImage } from './catalog/image-inputs.js';
import type { RunStore } from './catalog/store.js';
import { BadInputError } from './core/errors.js';
import { sha256 } from './core/hash.js';
import type { Logger } from './core/log.js';
import type { CliOptions } from './cli.js';

export type ImagesPlan = { action: 'keep' } | { action: 'remove' } | { action: 'replace'; images: NewImage[] };

/** What --image/--no-images will do to the run's pictures; every given file checked. Writes nothing. */
export async function checkImageOption(cli: Pick<CliOptions, 'images' | 'noImages'>, store: RunStore): Promise<ImagesPlan> {
  if (cli.noImages) return { action: 'remove' };
  if (cli.images === undefined) return { action: 'keep' };
  const checked = [];
  for (const path of cli.images) checked.push({ path, ...(await readImageFile(path)) });
  if (await sameAsRun(store, checked.map((c) => ({ name: basename(c.path), sha256: sha256(c.bytes) })))) return { action: 'keep' };
  // Decoded only now that every header passed, one at a time (a decoded photo can be large).
  const { decodeImage } = await import('./data/image-decode.js');
  for (const { path, bytes, header } of checked) {
    let size: { width: number; height: number };
    try {
      size = decodeImage(bytes, header.format);
    } catch (err) {
      throw new BadInputError(`--image ${path}: its ${header.format === 'png' ? 'PNG' : 'JPEG'} data cannot be decoded (${(err as Error).message}); the file is damaged or cut short: give another PNG or JPEG`);
    }
    if (size.width !== header.width || size.height !== header.height) {
      throw new BadInputError(`--image ${path}: its header says ${header.width} x ${header.height} px but it decodes to ${size.width} x ${size.height}; the file is damaged: give another PNG or JPEG`);
    }
  }
  return {
    action: 'replace',
    images: checked.map(({ path, bytes, header }) => ({ name: basename(path), format: header.format, width: header.width, height: header.height, orientation: header.orientation, bytes })),
  };
}

/**
 * Whether the run already holds exactly these pictures, in this order, its copies intact (then
 * nothing needs decoding or copying). A damaged index or copy is replaced by a new copy, not an error.
 */
async function sameAsRun(store: RunStore, given: { name: string; sha256: string }[]): Promise<boolean> {
  const folder = store.imageInputs;
  if (!folder.present) return false;
  const current = await folder.read().catch(() => null);
  if (current === null || current.images.length !== given.length) return false;
  if (!current.images.every((img, i) => img.name === given[i].name && img.sha256 === given[i].sha256)) return false;
  for (const img of current.images) {
    if ((await folder.readImage(img).catch(() => null)) === null) return false;
  }
  return true;
}

/** Carries the plan out (the runner calls it under the run's lock, before any step). */
export async function applyImagesPlan(plan: ImagesPlan, store: RunStore, log: Logger): Promise<void> {
  const folder = store.imageInputs;
  if (plan.action === 'remove') {
    if (await folder.remove()) log.info(`removed the run's pictures (${folder.dir})`);
  } else if (plan.action === 'replace') {
    const index = await folder.replace(plan.images);
    log.info(`copied ${index.images.length} picture(s) into ${folder.dir}: ${index.images.map((i) => i.file).join(', ')}`);
  }
}
