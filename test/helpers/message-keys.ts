/**
 * Every message key the pages and figures print, found in the sources before anything renders:
 * `{{t "key"}}` and `(t "key")` in templates/**\/*.hbs, and in the code every call that reaches
 * `message(catalog, key)` (pipeline/render/messages.ts), directly or through a wrapper:
 * `loc.t('key')` (pipeline/render/locale.ts) or a local `const t = (x, key) => message(c,
 * \`prefix.${key}\`)`, whose prefix is added to the literal at each of its calls.
 *
 * A key the scanner cannot read (a variable, a computed string) is "dynamic": it fails the check,
 * unless the line or the line above says which keys it can be, `// keys: a.b.train, a.b.test`,
 * and then those are checked.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

export interface KeyUse {
  key: string;
  /** file:line, project-relative */
  where: string;
}

export interface KeyScan {
  keys: KeyUse[];
  /** calls whose key is not a literal and has no `keys:` comment */
  dynamic: KeyUse[];
}

function filesUnder(dir: string, ext: string): string[] {
  let out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out = out.concat(filesUnder(path, ext));
    else if (name.endsWith(ext)) out.push(path);
  }
  return out;
}

/**
 * {{t "key" ...}} and (t "key" ...) in every template under `dir`. A computed key,
 * `(t (concat "a.split." split))`, needs `{{!-- keys: a.split.train, a.split.test --}}` on its line
 * or the line above.
 */
export function templateKeys(dir: string, root = dir): KeyScan {
  const scan: KeyScan = { keys: [], dynamic: [] };
  for (const file of filesUnder(dir, '.hbs')) {
    const lines = readFileSync(file, 'utf8').split('\n');
    lines.forEach((line, i) => {
      const where = `${relative(root, file)}:${i + 1}`;
      for (const m of line.matchAll(/[{(]t\s+"([^"]+)"/g)) scan.keys.push({ key: m[1], where });
      const computed = [...line.matchAll(/[{(]t\s+(?!")(\S+)/g)];
      if (computed.length === 0) return;
      const declared = /\{\{!--\s*keys:\s*(.+?)\s*--\}\}/.exec(line) ?? /\{\{!--\s*keys:\s*(.+?)\s*--\}\}/.exec(lines[i - 1] ?? '');
      if (declared) for (const k of declared[1].split(',')) scan.keys.push({ key: k.trim(), where });
      else for (const m of computed) scan.dynamic.push({ key: m[1], where });
    });
  }
  return scan;
}

/** How a function hands its parameter to message(): the argument position and the text around it. */
interface Sink {
  index: number;
  prefix: string;
  suffix: string;
}

const MESSAGE: Sink = { index: 1, prefix: '', suffix: '' };
/** Locale.t(key, vars) (pipeline/render/locale.ts), called as a method: `loc.t('figures.x')`. */
const LOCALE_T: Sink = { index: 0, prefix: '', suffix: '' };

type Fn = ts.ArrowFunction | ts.FunctionExpression | ts.FunctionDeclaration | ts.MethodDeclaration;
const isFn = (n: ts.Node): n is Fn => ts.isArrowFunction(n) || ts.isFunctionExpression(n) || ts.isFunctionDeclaration(n) || ts.isMethodDeclaration(n);

/** The name a function is known by where it is called: `function f`, `const f = () =>`, `{ f: () => }`. */
function fnName(fn: Fn): string | null {
  if ((ts.isFunctionDeclaration(fn) || ts.isMethodDeclaration(fn)) && fn.name && ts.isIdentifier(fn.name)) return fn.name.text;
  const p = fn.parent;
  if (ts.isVariableDeclaration(p) && ts.isIdentifier(p.name)) return p.name.text;
  if (ts.isPropertyAssignment(p) && ts.isIdentifier(p.name)) return p.name.text;
  return null;
}

const enclosingFns = (node: ts.Node): Fn[] => {
  const out: Fn[] = [];
  for (let n = node.parent; n; n = n.parent) if (isFn(n)) out.push(n);
  return out;
};

/** The parameter `e` stands for (`key`, `String(key)`), if it is one of an enclosing function's. */
function paramOf(e: ts.Expression, fns: Fn[]): { fn: Fn; index: number } | null {
  const inner = ts.isCallExpression(e) && ts.isIdentifier(e.expression) && e.expression.text === 'String' && e.arguments.length === 1 ? e.arguments[0] : e;
  if (!ts.isIdentifier(inner)) return null;
  for (const fn of fns) {
    const index = fn.parameters.findIndex((p) => ts.isIdentifier(p.name) && p.name.text === inner.text);
    if (index >= 0) return { fn, index };
  }
  return null;
}

/** The literal keys an expression can be, or null when it is not made of literals. */
function literals(e: ts.Expression): string[] | null {
  if (ts.isStringLiteral(e) || ts.isNoSubstitutionTemplateLiteral(e)) return [e.text];
  if (ts.isParenthesizedExpression(e)) return literals(e.expression);
  if (ts.isConditionalExpression(e)) {
    const a = literals(e.whenTrue);
    const b = literals(e.whenFalse);
    return a && b ? [...a, ...b] : null;
  }
  return null;
}

/** `prefix${param}suffix` or 'prefix' + param: the text around a parameter in a key argument. */
function aroundParam(e: ts.Expression, fns: Fn[]): (Sink & { fn: Fn }) | null {
  if (ts.isTemplateExpression(e) && e.templateSpans.length === 1 && e.templateSpans[0].literal.kind === ts.SyntaxKind.TemplateTail) {
    const p = paramOf(e.templateSpans[0].expression, fns);
    return p && { fn: p.fn, index: p.index, prefix: e.head.text, suffix: e.templateSpans[0].literal.text };
  }
  if (ts.isBinaryExpression(e) && e.operatorToken.kind === ts.SyntaxKind.PlusToken && ts.isStringLiteral(e.left)) {
    const p = paramOf(e.right, fns);
    return p && { fn: p.fn, index: p.index, prefix: e.left.text, suffix: '' };
  }
  const p = paramOf(e, fns);
  return p && { fn: p.fn, index: p.index, prefix: '', suffix: '' };
}

function importsMessage(sf: ts.SourceFile): boolean {
  return sf.statements.some(
    (s) =>
      ts.isImportDeclaration(s) &&
      ts.isStringLiteral(s.moduleSpecifier) &&
      /(^|\/)messages\.js$/.test(s.moduleSpecifier.text) &&
      !!s.importClause?.namedBindings &&
      ts.isNamedImports(s.importClause.namedBindings) &&
      s.importClause.namedBindings.elements.some((el) => el.name.text === 'message'),
  );
}

/** `// keys: a.b, a.c` on the call's line or the line above. */
function declaredKeys(sf: ts.SourceFile, node: ts.Node): string[] | null {
  const line = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
  const lines = sf.text.split('\n');
  for (const text of [lines[line], lines[line - 1] ?? '']) {
    const m = /\/\/\s*keys:\s*(.+)$/.exec(text);
    if (m) return m[1].split(',').map((k) => k.trim()).filter(Boolean);
  }
  return null;
}

/** Every message key the code under `roots` (folders of .ts files) passes, as literals. */
export function codeKeys(root: string, roots: string[]): KeyScan {
  const sources = roots.flatMap((r) => filesUnder(join(root, r), '.ts')).map((f) => ts.createSourceFile(f, readFileSync(f, 'utf8'), ts.ScriptTarget.ES2022, true));
  return scanSources(root, sources);
}

/** Names a file imports (`import { a, b as c }`): local name -> imported name. */
function importedNames(sf: ts.SourceFile): Map<string, string> {
  const out = new Map<string, string>();
  for (const s of sf.statements) {
    const b = ts.isImportDeclaration(s) ? s.importClause?.namedBindings : undefined;
    if (b && ts.isNamedImports(b)) for (const el of b.elements) out.set(el.name.text, (el.propertyName ?? el.name).text);
  }
  return out;
}

const isExported = (fn: Fn): boolean => {
  const decl = ts.isFunctionDeclaration(fn) ? fn : ts.isVariableDeclaration(fn.parent) ? fn.parent.parent.parent : null;
  return !!decl && ts.canHaveModifiers(decl) && !!ts.getModifiers(decl)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
};

interface FileScan {
  sf: ts.SourceFile;
  calls: ts.CallExpression[];
  direct: boolean;
  sinks: Map<string, Sink>;
}

function sinkOf(f: FileScan, call: ts.CallExpression): Sink | null {
  const callee = call.expression;
  if (ts.isIdentifier(callee)) return f.sinks.get(callee.text) ?? (f.direct && callee.text === 'message' ? MESSAGE : null);
  if (ts.isPropertyAccessExpression(callee) && callee.name.text === 't') return LOCALE_T;
  return null;
}

/** Wrappers of message() (and of those) defined in a file; the exported ones go into `exported`. */
function findSinks(f: FileScan, exported: Map<string, Sink>): void {
  for (let grew = true; grew; ) {
    grew = false;
    for (const call of f.calls) {
      const sink = sinkOf(f, call);
      const arg = sink && call.arguments[sink.index];
      if (!sink || !arg) continue;
      const around = aroundParam(arg, enclosingFns(call));
      const name = around && fnName(around.fn);
      if (around && name && !f.sinks.has(name)) {
        const wrapper = { index: around.index, prefix: sink.prefix + around.prefix, suffix: around.suffix + sink.suffix };
        f.sinks.set(name, wrapper);
        if (isExported(around.fn)) exported.set(name, wrapper);
        grew = true;
      }
    }
  }
}

/** The scan of parsed sources (exported for the scanner's own test on a fixture). */
export function scanSources(root: string, sources: ts.SourceFile[]): KeyScan {
  const files: FileScan[] = sources.map((sf) => {
    const calls: ts.CallExpression[] = [];
    const collect = (n: ts.Node): void => {
      if (ts.isCallExpression(n)) calls.push(n);
      ts.forEachChild(n, collect);
    };
    collect(sf);
    return { sf, calls, direct: importsMessage(sf), sinks: new Map() };
  });
  const exported = new Map<string, Sink>();
  for (const f of files) findSinks(f, exported);
  // A wrapper exported by one file and imported by name into another.
  for (const f of files) {
    for (const [local, name] of importedNames(f.sf)) {
      const sink = exported.get(name);
      if (sink && !f.sinks.has(local)) f.sinks.set(local, sink);
    }
  }
  const scan: KeyScan = { keys: [], dynamic: [] };
  for (const f of files) {
    for (const call of f.calls) {
      const sink = sinkOf(f, call);
      const arg = sink && call.arguments[sink.index];
      if (!sink || !arg) continue;
      const where = `${relative(root, f.sf.fileName)}:${f.sf.getLineAndCharacterOfPosition(call.getStart(f.sf)).line + 1}`;
      const found = literals(arg);
      if (found) {
        for (const k of found) scan.keys.push({ key: sink.prefix + k + sink.suffix, where });
        continue;
      }
      // A wrapper forwarding its own parameter: its callers carry the keys.
      if (aroundParam(arg, enclosingFns(call))) continue;
      const declared = declaredKeys(f.sf, call);
      if (declared) for (const k of declared) scan.keys.push({ key: k, where });
      else scan.dynamic.push({ key: arg.getText(f.sf), where });
    }
  }
  return scan;
}
