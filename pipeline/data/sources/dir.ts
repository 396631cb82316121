import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { gzName, type DatasetFile } from '../../catalog/dataset.js';
import { SourceError, type Source } from './source.js';

export interface DirHints {
  /** Why when `dir` is undefined (the source was not configured). */
  notGiven?: string;
  /** Added when the folder does not exist, e.g. which package would create it. */
  missing?: string;
}

/**
 * A local folder holding the files as `<name>.gz` or raw `<name>` (Debian ships .gz; a user's own
 * copy may be either).
 */
export function dirSource(label: string, dir: string | undefined, hints: DirHints = {}): Source {
  return {
    label,
    async fetch(file: DatasetFile) {
      if (dir === undefined) throw new SourceError(hints.notGiven ?? 'not configured', true);
      const root = resolve(dir);
      const info = await stat(root).catch(() => null);
      if (!info?.isDirectory()) throw new SourceError(`no folder ${root}${hints.missing ? ` (${hints.missing})` : ''}`, true);
      for (const name of [gzName(file), file.name]) {
        const path = join(root, name);
        const bytes = await readFile(path).catch((err: NodeJS.ErrnoException) => {
          if (err.code === 'ENOENT') return null;
          throw new SourceError(`cannot read ${path} (${err.code ?? err.message})`);
        });
        if (bytes) return { bytes, origin: path };
      }
      throw new SourceError(`neither ${gzName(file)} nor ${file.name} in ${root}`);
    },
  };
}
