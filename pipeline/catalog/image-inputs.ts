/**
 * The reader's pictures (--image) inside the run folder, inputs/images/: copies, so that the run
 * stays relocatable and its fingerprints follow the bytes, not a path outside it. index.json
 * lists them in the order given; the folder is replaced whole (written beside it, then swapped
 * in) or removed whole (renamed away, then deleted), so a run never sees half a set.
 */
import { existsSync } from 'node:fs';
import { readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BadInputError, readFailure } from '../core/errors.js';
import { swapDir, writeFileSafe, writeJson } from '../core/files.js';
import { sha256 } from '../core/hash.js';
import { readArtifact } from '../core/read-artifact.js';
import type { Artifact } from '../core/step.js';
import { checkRelative } from './artifacts.js';
import { ImageInputsSchema, type ImageInput, type ImageInputs } from './schema.js';

/** The fix for a damaged or changed copy: give the pictures again. */
const GIVE_AGAIN = 'give the pictures again (npm run pipeline -- --image <file> ...), or drop them with --no-images';

/** A picture to copy in: its bytes and what the header check found. */
export interface NewImage {
  name: string;
  format: ImageInput['format'];
  width: number;
  height: number;
  orientation: number;
  bytes: Uint8Array;
}

/** "1-boot.png": the position keeps two files of the same name apart, the extension follows the format, not the name given. */
export function copyName(position: number, name: string, format: ImageInput['format']): string {
  const stem = name.replace(/\.[^.]*$/, '');
  const safe = stem.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^[^A-Za-z0-9]+/, '').replace(/\.\.+/g, '.').slice(0, 60) || 'image';
  return `${position}-${safe}.${format === 'png' ? 'png' : 'jpg'}`;
}

export class ImageInputsFolder implements Artifact {
  readonly indexPath: string;
  constructor(readonly dir: string) {
    this.indexPath = join(dir, 'index.json');
  }
  get paths(): string[] {
    return [this.dir];
  }
  /** Whether the run has pictures: a run never given --image has no folder. */
  get present(): boolean {
    return existsSync(this.indexPath);
  }
  read(): Promise<ImageInputs> {
    return readArtifact(ImageInputsSchema, this.indexPath, GIVE_AGAIN);
  }
  /** A copy's bytes, checked against the SHA-256 that index.json recorded when it was copied. */
  async readImage(image: ImageInput): Promise<Uint8Array> {
    const path = join(this.dir, checkRelative(image.file));
    const bytes = new Uint8Array(
      await readFile(path).catch((err: unknown) => {
        throw readFailure(err, () => new BadInputError(`${path} is missing though ${this.indexPath} lists it: ${GIVE_AGAIN}`));
      }),
    );
    if (sha256(bytes) !== image.sha256) throw new BadInputError(`${path} is not the picture that was copied there (its SHA-256 changed): ${GIVE_AGAIN}`);
    return bytes;
  }
  /** Replaces the run's pictures by these, whole: written into a folder beside, then swapped in. */
  async replace(images: NewImage[]): Promise<ImageInputs> {
    const staging = `${this.dir}.staging`;
    await rm(staging, { recursive: true, force: true });
    const index: ImageInputs = { images: [] };
    for (const [i, img] of images.entries()) {
      const file = copyName(i + 1, img.name, img.format);
      await writeFileSafe(join(staging, file), img.bytes);
      index.images.push({ file, name: img.name, format: img.format, width: img.width, height: img.height, orientation: img.orientation, bytes: img.bytes.byteLength, sha256: sha256(img.bytes) });
    }
    await writeJson(join(staging, 'index.json'), index);
    await swapDir(staging, this.dir);
    return index;
  }
  /** Removes the run's pictures, whole: renamed away first, so a kill leaves the set or nothing. False when there were none. */
  async remove(): Promise<boolean> {
    if (!existsSync(this.dir)) return false;
    const old = `${this.dir}.old`;
    await rm(old, { recursive: true, force: true });
    await rename(this.dir, old);
    await rm(old, { recursive: true, force: true });
    return true;
  }
}
