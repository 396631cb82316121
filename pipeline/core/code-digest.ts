/**
 * The digest of a step's code: its module, every project module it reaches, and the extra files
 * (templates, patches) it names. Editing any of them changes the digest, so the runner re-runs
 * exactly the steps whose code includes the edited file; editing anything else leaves it alone.
 *
 * The import graph comes from esbuild (the parser tsx itself runs on our sources), bundling with
 * a metafile: it resolves the way tsx does (`./x.js` -> `x.ts`, `.ts` specifiers, directory
 * `index.ts`, tsconfig `paths`) and lists every module a file loads, literal dynamic imports
 * included. Two kinds of dependency esbuild does not see are turned into imports it does see, by a
 * plugin that loads each project file:
 * - type-only and unused imports (`import type`, or `import { X }` where X is only a type): esbuild
 *   drops them, like TypeScript, before resolving them. Type-only code cannot change what a step
 *   computes, but following every import statement is simpler to reason about and only costs a
 *   re-run too many.
 * - worker entry files, `new URL('./worker.ts', import.meta.url)` (pipeline/ml/data-parallel.ts):
 *   no bundler follows those. Only URLs naming an existing module file count: a URL may as well
 *   name a folder, an asset or an output path.
 * For both, the plugin adds an import of the same specifier next to the text it found. The
 * added text sits on the same line, so esbuild's error locations stay right, and where the
 * text was in a comment or a string the addition is too, so esbuild's own parser, not a regular
 * expression, decides what is code.
 */
import { build, type Loader, type Message, type Plugin } from 'esbuild';
import { existsSync, statSync } from 'node:fs';
import { readFile, realpath, stat } from 'node:fs/promises';
import { dirname, extname, isAbsolute, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sha256 } from './hash.js';

export interface CodeDigest {
  /** sha256 over the sorted `path\0sha256\n` lines of `files` */
  digest: string;
  /** project-relative path (posix) -> sha256 of the file's bytes, sorted by path */
  files: Record<string, string>;
}

/** The project root: two folders above pipeline/core/ (this file's folder, then pipeline/, then the root). */
const DEFAULT_ROOT = resolve(fileURLToPath(import.meta.url), '..', '..', '..');

/**
 * A relative specifier, quoted. No `$`, backtick, backslash or newline: then inserting the
 * specifier again can never end or open a string, template or `${}` the original text was in.
 */
const SPEC = String.raw`(['"])(\.{1,2}(?:\/[^'"\`$\\\n]*)?)`;

/**
 * Static import and export-from declarations, any shape: `import X, { a, type B } from`,
 * `import type * as ns from`, `export { a } from`, `export type * from`. Side-effect imports
 * (`import './x.js'`) are left out: esbuild never drops those.
 */
const STATIC_IMPORT = new RegExp(
  String.raw`\b(?:import|export)(?:\s+type)?\s*(?:[\w$]+\s*,?\s*)?(?:\{[^}]*\}|\*\s*(?:as\s+[\w$]+)?)?\s*from\s*` + SPEC + String.raw`\1`,
  'g',
);

/** A worker entry: `new URL('./worker.ts', import.meta.url)` (followed if isModuleFile). */
const WORKER_URL = new RegExp(String.raw`\bnew\s+URL\s*\(\s*` + SPEC + String.raw`\1\s*,\s*import\.meta\.url\s*\)`, 'g');

const LOADERS: Record<string, Loader> = {
  '.ts': 'ts',
  '.mts': 'ts',
  '.cts': 'ts',
  '.tsx': 'tsx',
  '.js': 'js',
  '.mjs': 'js',
  '.cjs': 'js',
  '.jsx': 'jsx',
  '.json': 'json',
};

/** What is known of a project module: its bytes' hash and the project modules it imports. */
interface ModuleInfo {
  sha256: string;
  deps: string[];
}

/**
 * Per root, per absolute path. Keyed on the content hash (checked on every call) rather than on
 * mtime, so an edit is always seen, even one made within the file system's timestamp resolution
 * (tests do that); reading a few dozen small files costs a few milliseconds.
 */
const graphs = new Map<string, Map<string, ModuleInfo>>();

/** Calls run one at a time, so that steps asked for together share what the first one parsed. */
let queue: Promise<unknown> = Promise.resolve();

/**
 * Transitive closure of project-local modules reachable from `entries` (absolute file paths or
 * file:// URLs), plus `extraFiles` (templates, patches) hashed as they are. Only files under
 * `root` and outside node_modules are followed and hashed; packages are recorded elsewhere (their
 * versions in run.json). Throws when an entry or extra file does not exist, or when an import
 * does not resolve (naming the importing file, line and specifier).
 */
export function codeDigest(entries: string[], extraFiles: string[] = [], root: string = DEFAULT_ROOT): Promise<CodeDigest> {
  const run = queue.then(() => computeDigest(entries, extraFiles, root));
  queue = run.catch(() => undefined);
  return run;
}

async function computeDigest(entries: string[], extraFiles: string[], root: string): Promise<CodeDigest> {
  const projectRoot = await realpath(root).catch(() => {
    throw new Error(`code digest: the project root ${root} does not exist`);
  });
  let graph = graphs.get(projectRoot);
  if (!graph) graphs.set(projectRoot, (graph = new Map()));

  const entryPaths = await Promise.all(entries.map((e) => projectFile(e, projectRoot, 'entry')));
  const extraPaths = await Promise.all(extraFiles.map((e) => projectFile(e, projectRoot, 'extra file')));

  const hashes = await closure(entryPaths, projectRoot, graph);
  await Promise.all(extraPaths.map(async (path) => hashes.set(path, sha256(await readFile(path)))));

  const rows = [...hashes].map(([path, hash]) => [relative(projectRoot, path).split(sep).join('/'), hash] as const);
  rows.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)); // code-unit order: the same under any locale
  return {
    digest: sha256(rows.map(([path, hash]) => `${path}\0${hash}\n`).join('')),
    files: Object.fromEntries(rows),
  };
}

/** An entry or extra file as an absolute real path inside the project; throws naming it if not. */
async function projectFile(spec: string, root: string, what: string): Promise<string> {
  const path = spec.startsWith('file:') ? fileURLToPath(spec) : resolve(root, spec);
  const real = await realpath(path).catch(() => {
    throw new Error(`code digest: ${what} ${spec} does not exist`);
  });
  if (!(await stat(real)).isFile()) throw new Error(`code digest: ${what} ${spec} is not a file`);
  if (!isProjectPath(real, root)) {
    // Project-relative paths are what keep the digest the same in a moved checkout.
    throw new Error(`code digest: ${what} ${spec} is not a project file (outside ${root}, or under node_modules)`);
  }
  return real;
}

function isProjectPath(path: string, root: string): boolean {
  const rel = relative(root, path);
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return false;
  return !rel.split(sep).includes('node_modules');
}

/** After this many parses a call gives up: only files rewritten all the time get there. */
const MAX_ROUNDS = 10;

/**
 * Walks the known graph from the entries, reading and hashing every file on the way. A file not
 * known yet, or whose bytes changed, is parsed (with everything it reaches) and the walk starts
 * over; a known import that vanished sends its importer to be parsed again, which then fails
 * naming the importer and the specifier. Returns path -> sha256 of every module reached.
 */
async function closure(entries: string[], root: string, graph: Map<string, ModuleInfo>): Promise<Map<string, string>> {
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const hashes = new Map<string, string>();
    const stale = new Set<string>();
    const seen = new Set<string>();
    let frontier = entries.map((path) => ({ path, importer: path }));
    while (frontier.length > 0) {
      const fresh = frontier.filter(({ path }) => !seen.has(path) && seen.add(path));
      const read = await Promise.all(fresh.map(({ path }) => readFile(path).then(sha256, () => null)));
      frontier = [];
      fresh.forEach(({ path, importer }, i) => {
        const hash = read[i];
        const known = graph.get(path);
        if (hash === null) stale.add(importer);
        else if (known?.sha256 !== hash) stale.add(path);
        else {
          hashes.set(path, hash);
          for (const dep of known.deps) frontier.push({ path: dep, importer: path });
        }
      });
    }
    if (stale.size === 0) return hashes;
    // Forgotten first: parse() stops at modules the graph has with the same bytes, and an importer
    // whose import vanished has the same bytes.
    for (const path of stale) graph.delete(path);
    await parse([...stale], root, graph);
  }
  throw new Error(`code digest: project files kept changing while they were read (${MAX_ROUNDS} tries); run again`);
}

/**
 * Parses `entries` and what they reach with esbuild, recording each project module's imports.
 * Modules already in the graph with the same bytes are loaded empty, so the parse stops at them:
 * esbuild's plugin callbacks cost an IPC round trip each, and parsing only what is new is what
 * keeps seven steps' digests well under a second.
 */
async function parse(entries: string[], root: string, graph: Map<string, ModuleInfo>): Promise<void> {
  const loaded = new Map<string, string>();
  let metafile;
  try {
    ({ metafile } = await build({
      absWorkingDir: root,
      entryPoints: entries,
      outdir: 'code-digest-out', // required for several entries; write: false never creates it
      bundle: true,
      write: false,
      metafile: true,
      platform: 'node',
      format: 'esm',
      packages: 'external', // bare imports are packages: recorded by version, never followed
      logLevel: 'silent',
      plugins: [projectFiles(root, graph, loaded)],
    }));
  } catch (err) {
    throw buildError(err);
  }
  // Metafile paths are relative to absWorkingDir, i.e. to the project root.
  for (const [input, { imports }] of Object.entries(metafile.inputs)) {
    const path = resolve(root, input);
    const hash = loaded.get(path);
    if (hash === undefined) continue; // in the graph already, or not a project file
    const deps = new Set<string>();
    for (const imported of imports) {
      if (imported.external) continue;
      const dep = resolve(root, imported.path);
      if (isProjectPath(dep, root)) deps.add(dep);
    }
    graph.set(path, { sha256: hash, deps: [...deps] });
  }
}

/**
 * Loads project files with the extra imports described at the top, hashing the bytes esbuild
 * parses. Loads as empty modules, neither followed nor recorded: modules the graph has with these
 * bytes, and anything outside the project (a relative import out of the root or into node_modules).
 */
function projectFiles(root: string, graph: ReadonlyMap<string, ModuleInfo>, loaded: Map<string, string>): Plugin {
  return {
    name: 'code-digest',
    setup(b) {
      b.onLoad({ filter: /.*/, namespace: 'file' }, async (args) => {
        if (!isProjectPath(args.path, root)) return { contents: '', loader: 'empty' };
        const bytes = await readFile(args.path);
        const hash = sha256(bytes);
        if (graph.get(args.path)?.sha256 === hash) return { contents: '', loader: 'empty' };
        loaded.set(args.path, hash);
        // Anything else imported (`import text from './x.txt'`) is hashed as it is, not parsed.
        const loader = LOADERS[extname(args.path)] ?? 'empty';
        if (loader === 'empty' || loader === 'json') return { contents: bytes, loader };
        return { contents: addHiddenImports(bytes.toString('utf8'), dirname(args.path)), loader };
      });
    },
  };
}

/**
 * Makes the imports esbuild would not follow visible to it (see the top of the file): a
 * side-effect import, which esbuild never drops, before each import declaration; a dynamic import
 * as an extra argument of each worker URL (`const u = new URL(...)` stays a valid declaration).
 */
function addHiddenImports(source: string, dir: string): string {
  return source
    .replace(STATIC_IMPORT, (match: string, q: string, spec: string) => `import ${q}${typesFallback(spec, dir)}${q}; ${match}`)
    .replace(WORKER_URL, (match: string, q: string, spec: string) =>
      isModuleFile(resolve(dir, spec)) ? `new URL(${q}${spec}${q}, import.meta.url, import(${q}${spec}${q}))` : match,
    );
}

/**
 * Whether a URL names a module to run (a worker entry: `./w.ts`, or `./w.js` for `w.ts`). A URL
 * can as well name a folder (`new URL('..', import.meta.url)`), an asset, or a file a step writes:
 * following those would fail, or make a step's outputs part of its code digest.
 */
function isModuleFile(path: string): boolean {
  if (!/\.[mc]?[jt]sx?$/.test(path)) return false;
  const candidates = [path, path.replace(/\.([mc]?)js$/, '.$1ts'), path.replace(/\.jsx$/, '.tsx')];
  return candidates.some((candidate) => statSync(candidate, { throwIfNoEntry: false })?.isFile() === true);
}

/**
 * `./types.js` for a module that exists only as `types.d.ts`: legal for imports of types, which
 * TypeScript drops, but esbuild cannot resolve it once imported for side effects; name the
 * declaration file instead.
 */
function typesFallback(spec: string, dir: string): string {
  const m = /^(.*)\.([mc]?)js$/.exec(spec);
  if (!m) return spec;
  const [, stem, kind] = m;
  const path = resolve(dir, stem);
  if (existsSync(`${path}.${kind}js`) || existsSync(`${path}.${kind}ts`) || existsSync(`${path}.tsx`)) return spec;
  return existsSync(`${path}.d.${kind}ts`) ? `${stem}.d.${kind}ts` : spec;
}

/** esbuild's errors as one message naming the file, line and specifier at fault. */
function buildError(err: unknown): Error {
  const messages = (err as { errors?: Message[] }).errors;
  if (!Array.isArray(messages) || messages.length === 0) return err instanceof Error ? err : new Error(String(err));
  const lines = new Set<string>();
  for (const m of messages) {
    const where = m.location ? `${m.location.file}:${m.location.line}` : 'an entry';
    const spec = /^Could not resolve "(.*)"$/.exec(m.text)?.[1];
    lines.add(spec === undefined ? `${where}: ${m.text}` : `${where} imports "${spec}", which does not resolve to a file`);
  }
  return new Error(`code digest: ${[...lines].join('; ')}`);
}
