/**
 * The runs a compare reads: named one by one or by a pattern, each loaded as the diff loads a run,
 * then sorted into usable runs and runs left out with the reason (incomplete: a step compare reads
 * is not done; mismatched: another architecture than the reference's).
 */
import { readdir, stat } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { BadInputError, UsageError } from '../core/errors.js';
import type { ModelSummary } from '../catalog/model-summary.js';
import { loadRun, resolveRunDir, type LoadedRun } from '../diff/load-run.js';
import { architectureOf, mismatch, renameToReference, type Architecture } from './architecture.js';

export interface UsableRun {
  /** the run, its weights and maps keyed by the reference's layer names */
  run: LoadedRun;
  id: string;
  arch: Architecture;
}

export interface LeftOut {
  label: string;
  id: string;
  dir: string;
  kind: 'incomplete' | 'mismatched';
  reason: string;
}

export interface Gathered {
  reference: UsableRun;
  /** the reference first, then the others in the order given */
  usable: UsableRun[];
  leftOut: LeftOut[];
  /** every run given, in order: what the default folder name is made from */
  ids: string[];
}

/** `*` and `?` within one path segment, as a shell matches them. */
function segmentPattern(segment: string): RegExp {
  const body = segment.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]');
  return new RegExp(`^${body}$`);
}

const isDir = async (p: string) => (await stat(p).catch(() => null))?.isDirectory() ?? false;
/** seed2 before seed10 */
const natural = (a: string, b: string) => a.localeCompare(b, 'en', { numeric: true });

/**
 * The folders a --runs pattern matches, in natural order. Without a `/` the pattern names run ids
 * under <artifacts>/runs; with one, paths (relative to the working directory). Hidden folders
 * (a staging folder, a lock) match only a pattern that starts with a dot.
 */
export async function matchRuns(pattern: string, artifacts: string): Promise<string[]> {
  const bare = !pattern.includes('/');
  const segments = (bare ? pattern : pattern.replace(/\/+$/, '')).split('/');
  let found = [bare ? join(artifacts, 'runs') : isAbsolute(pattern) ? '/' : '.'];
  for (const segment of segments) {
    if (segment === '' || segment === '.') continue;
    const next: string[] = [];
    for (const dir of found) {
      if (!/[*?]/.test(segment)) {
        next.push(join(dir, segment));
        continue;
      }
      const re = segmentPattern(segment);
      const names = await readdir(dir).catch(() => [] as string[]);
      for (const name of names.sort(natural)) if (re.test(name) && (!name.startsWith('.') || segment.startsWith('.'))) next.push(join(dir, name));
    }
    found = next;
  }
  const dirs: string[] = [];
  for (const p of found) if (await isDir(p)) dirs.push(bare ? p.slice(join(artifacts, 'runs').length + 1) : p);
  if (dirs.length === 0) {
    throw new UsageError(`--runs ${JSON.stringify(pattern)} matches no run folder${bare ? ` under ${join(artifacts, 'runs')}` : ''}: check the pattern (quote it, so the shell leaves it to compare)`);
  }
  return dirs;
}

/** Every run given, once, in order: runs named one by one first, then each pattern's matches. */
export async function listRuns(named: string[], globs: string[], artifacts: string): Promise<{ label: string; dir: string }[]> {
  const labels = [...named];
  for (const g of globs) labels.push(...(await matchRuns(g, artifacts)));
  const seen = new Set<string>();
  const out: { label: string; dir: string }[] = [];
  // A run that does not exist at all is a typo, not a run to leave out: resolveRunDir refuses it.
  for (const label of labels) {
    const dir = resolve(await resolveRunDir(label, artifacts));
    if (seen.has(dir)) continue;
    seen.add(dir);
    out.push({ label, dir });
  }
  return out;
}

/** A run loaded whole with its layer table, or the reason it cannot be compared. */
async function load(label: string, artifacts: string): Promise<{ run: LoadedRun; summary: ModelSummary } | { reason: string }> {
  try {
    const run = await loadRun(label, artifacts);
    return { run, summary: await run.store.model.topology.summary() };
  } catch (err) {
    if (err instanceof BadInputError) return { reason: err.message };
    throw err;
  }
}

/** The one name a run goes by on the page: its id, unless two runs given share it (folders from two places). */
function runIds(dirs: string[]): string[] {
  const base = dirs.map((d) => d.split(/[\\/]/).pop() ?? d);
  return base.map((b, i) => (base.indexOf(b) === base.lastIndexOf(b) ? b : `${b}#${base.slice(0, i + 1).filter((x) => x === b).length}`));
}

export async function gatherRuns(named: string[], globs: string[], artifacts: string, referenceArg?: string): Promise<Gathered> {
  const given = await listRuns(named, globs, artifacts);
  const ids = runIds(given.map((g) => g.dir));
  const leftOut: LeftOut[] = [];
  const loaded: { run: LoadedRun; summary: ModelSummary; id: string; label: string; dir: string }[] = [];
  for (const [i, g] of given.entries()) {
    const r = await load(g.label, artifacts);
    if ('reason' in r) leftOut.push({ label: g.label, id: ids[i], dir: g.dir, kind: 'incomplete', reason: r.reason });
    else loaded.push({ ...r, id: ids[i], label: g.label, dir: g.dir });
  }

  let refIndex = 0;
  if (referenceArg !== undefined) {
    const dir = resolve(await resolveRunDir(referenceArg, artifacts));
    refIndex = loaded.findIndex((l) => l.dir === dir);
    if (refIndex < 0) {
      const out = leftOut.find((l) => l.dir === dir);
      if (out) throw new BadInputError(`the reference run ${referenceArg} cannot be compared: ${out.reason}; pick another --reference`);
      throw new UsageError(`--reference ${referenceArg} is not one of the runs given: name it among the runs too`);
    }
  }

  const usable: UsableRun[] = [];
  const ref = loaded[refIndex];
  if (ref) {
    const refArch = architectureOf(ref.run, ref.summary);
    for (const [i, l] of [ref, ...loaded.filter((_, j) => j !== refIndex)].entries()) {
      const arch = i === 0 ? refArch : architectureOf(l.run, l.summary);
      const why = i === 0 ? null : mismatch(arch, refArch, ref.id);
      if (why) leftOut.push({ label: l.label, id: l.id, dir: l.dir, kind: 'mismatched', reason: why });
      else usable.push({ run: renameToReference(l.run, arch, refArch), id: l.id, arch });
    }
  }
  if (usable.length < 2) {
    const why = leftOut.map((l) => `  ${l.label}: ${l.kind}: ${l.reason}`).join('\n');
    throw new BadInputError(
      `compare needs at least two usable runs, and ${usable.length === 0 ? 'none is' : `only ${usable[0].run.label} is`} (${given.length} given)` +
        (leftOut.length > 0 ? `; left out:\n${why}` : '') +
        (leftOut.some((l) => l.kind === 'mismatched') ? '\nrun compare on runs of one architecture, or pick the --reference the others match' : ''),
    );
  }
  leftOut.sort((a, b) => ids.indexOf(a.id) - ids.indexOf(b.id));
  return { reference: usable[0], usable, leftOut, ids };
}
