/**
 * The import direction of the project's code, and the check that enforces it (run by
 * test/layering.test.ts, so `npm test` fails on a wrong-way import).
 *
 * A key `dir/**` is a layer holding `dir/` and everything under it; `dir/*` holds only the files
 * directly in `dir/`. A lower rank never imports a higher one; two different layers of the same
 * rank are siblings and never import each other; imports inside one layer are free.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative, sep } from 'node:path';
import ts from 'typescript';

export const LAYERS: Readonly<Record<string, number>> = {
  // the framework: runner, step contract, run manifest, params, hashing, lock, atomic files, errors, log, fault points
  'pipeline/core/**': 0,
  // the TensorFlow.js runtime: backend choice, the project's wasm kernels
  'pipeline/tfjs/**': 1,
  // the run store: typed artifacts, schemas, .npy, model files
  'pipeline/catalog/**': 2,
  // Fashion-MNIST: sources, download cache, IDX parsing, the split
  'pipeline/data/**': 3,
  // the model and its training: architecture, trainer, its training threads, statistics
  'pipeline/ml/**': 3,
  // rendering: Vega-Lite figures, heatmaps, the report's HTML
  'pipeline/render/**': 3,
  // the steps, in pipeline order, with the domain code only one step uses
  'steps/**': 4,
  // comparing two finished runs: loading, rules, the diff page
  'pipeline/diff/**': 4,
  // gathering N finished runs: grouping, kernel stability, the compare page. It builds on the
  // diff's machinery (loading, matching, rules, the folder swap), so it ranks just above diff.
  'pipeline/compare/**': 4.5,
  // many runs of the pipeline: the sweep's options, its plan (the cross product, the run ids
  // through the pipeline's parser, which sweep-main hands in), the child processes, its lines
  'pipeline/sweep/**': 4,
  // the entry points (main, diff-main, bench, cli): they may import anything
  'pipeline/*': 5,
};

/** The folders the check reads; a `.ts` file under them must be in a layer. */
const CHECKED_ROOTS = ['pipeline', 'steps'];

export interface Violation {
  /** Project-relative, `/`-separated. */
  file: string;
  /** 1-based line of the specifier; 0 when the whole file is the problem (it is in no layer). */
  line: number;
  /** As written in the source; '' for a file in no layer. */
  specifier: string;
  /** The project-relative file the specifier resolves to; '' for a file in no layer. */
  target: string;
  reason: string;
}

/** One line per violation, naming the file first so that a failing test points at it. */
export function formatViolation(v: Violation): string {
  return v.line === 0 ? `${v.file} ${v.reason}` : `${v.file}:${v.line} imports ${v.target}: ${v.reason}`;
}

interface Layer {
  key: string;
  name: string;
  rank: number;
}

/**
 * The layer of a project-relative path: the most specific key that holds it. `pipeline/*` holds
 * only direct files, so a new folder such as pipeline/foo/ is in no layer until someone ranks it.
 */
export function layerOf(path: string): Layer | undefined {
  let best: Layer | undefined;
  let bestLength = -1;
  for (const [key, rank] of Object.entries(LAYERS)) {
    const deep = key.endsWith('/**');
    const dir = key.slice(0, key.lastIndexOf('/'));
    const holds = deep ? path.startsWith(`${dir}/`) : posix.dirname(path) === dir;
    if (holds && dir.length > bestLength) {
      // Messages call a folder layer by its last segment ("core"), a top-level layer by its key.
      best = { key, rank, name: deep ? posix.basename(dir) : key };
      bestLength = dir.length;
    }
  }
  return best;
}

/** Project-relative `.ts` files under `dir`, recursively. */
function listTs(root: string, dir: string): string[] {
  const abs = join(root, dir);
  if (!existsSync(abs)) return [];
  const out: string[] = [];
  for (const entry of readdirSync(abs, { withFileTypes: true })) {
    const rel = `${dir}/${entry.name}`;
    if (entry.isDirectory()) out.push(...listTs(root, rel));
    else if (entry.isFile() && entry.name.endsWith('.ts')) out.push(rel);
  }
  return out;
}

interface ModuleRef {
  specifier: string;
  line: number;
  /** Names a file of ours: './x', '../x', or for new URL any string without a scheme ('w.ts'). */
  local: boolean;
}

const isStringLike = (n: ts.Node | undefined): n is ts.StringLiteral | ts.NoSubstitutionTemplateLiteral =>
  n !== undefined && (ts.isStringLiteral(n) || ts.isNoSubstitutionTemplateLiteral(n));

/** `import.meta.<name>` */
const isImportMeta = (n: ts.Node, name: string): boolean =>
  ts.isPropertyAccessExpression(n) &&
  n.name.text === name &&
  ts.isMetaProperty(n.expression) &&
  n.expression.keywordToken === ts.SyntaxKind.ImportKeyword;

/**
 * Every module reference in one file, from its syntax tree: comments and string contents are not
 * code, so they can never be mistaken for imports (a regex could not tell).
 */
export function moduleRefs(fileName: string, text: string): ModuleRef[] {
  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const refs: ModuleRef[] = [];
  const add = (lit: ts.StringLiteral | ts.NoSubstitutionTemplateLiteral, url = false): void => {
    const specifier = lit.text;
    // A module specifier without ./ or ../ is a package; a URL without a scheme is relative.
    const local = /^\.\.?\//.test(specifier) || (url && !/^([a-z][a-z0-9+.-]*:|\/)/i.test(specifier));
    refs.push({ specifier, local, line: sf.getLineAndCharacterOfPosition(lit.getStart(sf)).line + 1 });
  };
  const visit = (node: ts.Node): void => {
    // import ... from '...', import type, import '...', export ... from '...'
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && isStringLike(node.moduleSpecifier)) {
      add(node.moduleSpecifier);
    } else if (ts.isCallExpression(node)) {
      const [first] = node.arguments;
      // import('...') and import.meta.resolve('...'): both name a module of ours when relative
      if ((node.expression.kind === ts.SyntaxKind.ImportKeyword || isImportMeta(node.expression, 'resolve')) && isStringLike(first)) {
        add(first);
      }
    } else if (ts.isNewExpression(node)) {
      // new URL('./worker.ts', import.meta.url): how a worker's entry file is named
      const [first, second] = node.arguments ?? [];
      if (ts.isIdentifier(node.expression) && node.expression.text === 'URL' && isStringLike(first) && second !== undefined && isImportMeta(second, 'url')) {
        add(first, true);
      }
    } else if (ts.isImportTypeNode(node)) {
      // typeof import('./x.js') in a type position is a dependency too
      const arg = node.argument;
      if (ts.isLiteralTypeNode(arg) && isStringLike(arg.literal)) add(arg.literal);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return refs;
}

/** The project-relative file a relative specifier names; `.js` names the `.ts` source (NodeNext style). */
function resolveSpecifier(root: string, fromFile: string, specifier: string): string {
  const abs = join(root, dirname(fromFile), specifier);
  let candidates = [abs];
  if (/\.[cm]?js$/.test(abs)) candidates = [abs.replace(/js$/, 'ts'), abs];
  else if (!/\.[^/\\.]+$/.test(abs)) candidates = [`${abs}.ts`, join(abs, 'index.ts'), abs];
  const found = candidates.find((c) => existsSync(c)) ?? candidates[0]!;
  return relative(root, found).split(sep).join('/');
}

/** Checks the import direction of every `.ts` file under `<root>/pipeline` and `<root>/steps`. */
export function checkLayers(root: string): Violation[] {
  const violations: Violation[] = [];
  for (const file of CHECKED_ROOTS.flatMap((dir) => listTs(root, dir)).sort()) {
    const from = layerOf(file);
    if (!from) {
      violations.push({
        file,
        line: 0,
        specifier: '',
        target: '',
        reason: `is in no layer: add its folder to test/helpers/layers.ts and the README's Layout`,
      });
      continue;
    }
    for (const { specifier, line, local } of moduleRefs(file, readFileSync(join(root, file), 'utf8'))) {
      if (!local) continue; // packages and node: builtins are not ours
      const target = resolveSpecifier(root, file, specifier);
      const push = (reason: string): void => void violations.push({ file, line, specifier, target, reason });
      const to = layerOf(target);
      if (!to) {
        // A target under pipeline/ or steps/ in no layer is reported as a file of its own; code
        // reaching out of them (into test/, say) would ship test code, so it is a violation here.
        if (!CHECKED_ROOTS.some((dir) => target.startsWith(`${dir}/`)) && target.endsWith('.ts')) {
          push(`${from.name} (rank ${from.rank}) may not import code outside ${CHECKED_ROOTS.join('/ and ')}/`);
        }
        continue;
      }
      if (to.key === from.key) continue;
      if (to.rank > from.rank) push(`${from.name} (rank ${from.rank}) may not import ${to.name} (rank ${to.rank})`);
      else if (to.rank === from.rank) push(`${from.name} (rank ${from.rank}) may not import its sibling ${to.name} (rank ${to.rank})`);
    }
  }
  return violations;
}
