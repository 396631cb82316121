import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DatasetFile } from '../../catalog/dataset.js';
import type { Logger } from '../../core/log.js';
import { dirSource } from './dir.js';
import { SourceError, type Source } from './source.js';

export const DEBIAN_PACKAGE = 'dataset-fashion-mnist';
/** Where the Debian package installs the four .gz files. */
export const DEBIAN_DATASET_DIR = '/usr/share/datasets/fashion-mnist';

/** The last meaningful line a failed command printed, for the failure message. */
function lastLine(err: unknown): string {
  const out = err as { stderr?: string; stdout?: string; message?: string };
  const text = (out.stderr || out.stdout || out.message || String(err)).trim();
  return text.split('\n').filter((l) => l.trim() && !l.startsWith('W: ')).pop() ?? text;
}

/**
 * Debian's package without root: `apt-get download` fetches the .deb into a temp folder and
 * `dpkg-deb -x` unpacks it there; the files are then read as from a folder. Prepared once, on
 * the first file asked for.
 */
export function aptSource(options: { disabled?: string } = {}): Source {
  let prepared: Promise<{ dir: string; deb: string }> | undefined;
  let temp: string | undefined;

  async function prepare(log: Logger): Promise<{ dir: string; deb: string }> {
    if (options.disabled) throw new SourceError(options.disabled, true);
    // zx loads only when this last-resort source is tried (it costs a no-op run a fifth of a second).
    const { $, which } = await import('zx/core');
    const tools = await Promise.all(['apt-get', 'dpkg-deb'].map((cmd) => which(cmd, { nothrow: true })));
    if (tools.some((t) => !t)) throw new SourceError('not a Debian-like host (no apt-get or dpkg-deb on PATH)', true);
    temp = await mkdtemp(join(tmpdir(), 'cnn-lens-apt-'));
    log.info(`apt-get download ${DEBIAN_PACKAGE} (into ${temp})`);
    try {
      await $({ cwd: temp, quiet: true, timeout: '10m' })`apt-get download ${DEBIAN_PACKAGE}`;
    } catch (err) {
      throw new SourceError(`apt-get download ${DEBIAN_PACKAGE} failed: ${lastLine(err)}`, true);
    }
    const deb = (await readdir(temp)).find((f) => f.endsWith('.deb'));
    if (!deb) throw new SourceError(`apt-get download ${DEBIAN_PACKAGE} left no .deb in ${temp}`, true);
    const root = join(temp, 'root');
    try {
      await $({ quiet: true, timeout: '5m' })`dpkg-deb -x ${join(temp, deb)} ${root}`;
    } catch (err) {
      throw new SourceError(`dpkg-deb -x ${deb} failed: ${lastLine(err)}`, true);
    }
    return { dir: join(root, DEBIAN_DATASET_DIR), deb };
  }

  return {
    label: `apt-get download ${DEBIAN_PACKAGE}`,
    async fetch(file: DatasetFile, log: Logger) {
      prepared ??= prepare(log);
      const { dir, deb } = await prepared;
      const found = await dirSource(deb, dir).fetch(file, log);
      // The temp folder goes away: name the package the bytes came from instead.
      return { bytes: found.bytes, origin: `${deb}:${found.origin.slice(join(temp!, 'root').length)}` };
    },
    async close() {
      if (temp) await rm(temp, { recursive: true, force: true });
    },
  };
}
