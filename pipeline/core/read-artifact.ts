/**
 * The one way the catalog reads a JSON artifact: read, parse, validate against its schema
 * (./schema.ts). Anything wrong is bad input (exit code 2) whose message names the file, the first
 * offending field, what was expected and what was found, and the fix.
 */
import { readFile } from 'node:fs/promises';
import * as v from 'valibot';
import { BadInputError, readFailure } from './errors.js';

/**
 * Validates `value` (the parsed content of `file`) against `schema` and returns it typed. Unknown
 * extra keys are kept; the first problem found throws, e.g.
 * `…/metrics.json: field test: expected an object, got undefined; run the step that writes it again (add --force)`.
 */
export function parseArtifact<S extends v.GenericSchema>(schema: S, value: unknown, file: string, fix: string): v.InferOutput<S> {
  const result = v.safeParse(schema, value, { abortEarly: true });
  if (result.success) return result.output;
  throw new BadInputError(`${file}: ${describeIssue(schema, result.issues[0])}; ${fix}`);
}

/** Reads and validates a JSON artifact; a missing, unreadable-as-JSON or misshapen file is bad input. */
export async function readArtifact<S extends v.GenericSchema>(schema: S, path: string, fix: string): Promise<v.InferOutput<S>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EISDIR') throw new BadInputError(`${path} is a folder, not a JSON file: ${fix}`);
    throw readFailure(err, () => new BadInputError(`missing ${path}: ${fix}`));
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new BadInputError(`${path} is not valid JSON (${(err as Error).message}): ${fix}`);
  }
  return parseArtifact(schema, value, path, fix);
}

/** "field rows[3].val_loss: expected a finite number, got the string "0.3"" */
function describeIssue(schema: v.GenericSchema, issue: v.BaseIssue<unknown>): string {
  const keys = (issue.path ?? []).map((item) => item.key);
  const at = schemaAt(schema, keys);
  const what = `expected ${at ? describeSchema(at) : (issue.expected ?? issue.type)}, got ${describeValue(issue.input)}`;
  return keys.length > 0 ? `field ${fieldPath(keys)}: ${what}` : what;
}

/** `rows[3].val_loss`, `trained.conv2d.kernel.shape`, `steps["feature-maps"].status` */
export function fieldPath(keys: readonly unknown[]): string {
  let out = '';
  for (const key of keys) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && /^[A-Za-z_$][\w$]*$/.test(key)) out += out === '' ? key : `.${key}`;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out;
}

/** Valibot's schemas and pipe actions, as far as this file looks into them. */
interface SchemaNode {
  kind: string;
  type: string;
  expects?: string | null;
  entries?: Record<string, SchemaNode>;
  item?: SchemaNode;
  value?: SchemaNode;
  wrapped?: SchemaNode;
  options?: readonly unknown[];
  literal?: unknown;
  requirement?: unknown;
  /** a piped schema: a schema first, then actions and further schemas */
  pipe?: readonly SchemaNode[];
}

/** The schema that judges the value at `keys`, or null when it cannot be told (then valibot's words are used). */
function schemaAt(schema: v.GenericSchema, keys: readonly unknown[]): SchemaNode | null {
  let node: SchemaNode | undefined = schema as unknown as SchemaNode;
  for (const key of keys) {
    const shape: SchemaNode = structural(node);
    if (shape.entries && typeof key === 'string' && Object.hasOwn(shape.entries, key)) node = shape.entries[key];
    else if (shape.type === 'array' && typeof key === 'number') node = shape.item;
    else if (shape.type === 'record') node = shape.value;
    else return null;
    if (!node) return null;
  }
  return node;
}

const WRAPPERS = new Set(['optional', 'nullable', 'nullish', 'exact_optional', 'undefinedable']);

/**
 * The schema that gives a value its shape, through optional wrappers and pipes: the last schema of
 * a pipe (`v.pipe(v.unknown(), check, v.looseObject(...), transform)` is that object).
 */
function structural(node: SchemaNode): SchemaNode {
  for (;;) {
    if (node.wrapped && WRAPPERS.has(node.type)) {
      node = node.wrapped;
      continue;
    }
    const inner = node.pipe?.filter((item) => item.kind === 'schema').at(-1);
    if (!inner || inner === node) return node;
    node = inner;
  }
}

/** The validations on a schema by type, through wrappers and nested pipes (`v.pipe(int(), v.maxValue(9))`). */
function validations(node: SchemaNode, found = new Map<string, unknown>()): Map<string, unknown> {
  if (node.wrapped && WRAPPERS.has(node.type)) validations(node.wrapped, found);
  for (const item of node.pipe ?? []) {
    if (item.kind === 'validation') found.set(item.type, item.requirement);
    else if (item.kind === 'schema' && item !== node) validations(item, found);
  }
  return found;
}

/** "an object", "a finite number", "an integer >= 1", "an array of 10 items", ""train" or "test"" */
function describeSchema(schema: SchemaNode): string {
  const node = structural(schema);
  const checks = validations(schema);
  const range = () => {
    const min = checks.get('min_value');
    const max = checks.get('max_value');
    if (min !== undefined && max !== undefined) return ` from ${String(min)} to ${String(max)}`;
    if (min !== undefined) return ` >= ${String(min)}`;
    if (max !== undefined) return ` <= ${String(max)}`;
    return '';
  };
  switch (node.type) {
    case 'object':
    case 'loose_object':
    case 'strict_object':
    case 'object_with_rest':
    case 'record':
      return 'an object';
    case 'array': {
      const length = checks.get('length');
      if (length !== undefined) return `an array of ${String(length)} items`;
      const min = checks.get('min_length');
      if (min === 1) return 'a non-empty array';
      return min !== undefined ? `an array of at least ${String(min)} items` : 'an array';
    }
    case 'number':
      if (checks.has('integer')) return `an integer${range()}`;
      return `a ${checks.has('finite') ? 'finite ' : ''}number${range()}`;
    case 'string':
      return 'a string';
    case 'boolean':
      return 'true or false';
    case 'picklist':
      return (node.options ?? []).map((o) => JSON.stringify(o)).join(' or ');
    case 'literal':
      return JSON.stringify(node.literal);
    default:
      return node.expects ?? node.type;
  }
}

/** What was found: "undefined", "null", "the string "0.3"", "an array of 100 items", "an object", "1.5" */
function describeValue(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  if (typeof value === 'string') {
    const shown = value.length > 40 ? `${value.slice(0, 40)}…` : value;
    return `the string ${JSON.stringify(shown)}`;
  }
  if (Array.isArray(value)) {
    if (value.length === 0) return 'an empty array';
    return `an array of ${value.length} item${value.length === 1 ? '' : 's'}`;
  }
  if (typeof value === 'object') return 'an object';
  return String(value);
}
