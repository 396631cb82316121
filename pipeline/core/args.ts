/** The entry points' one way to read their options: node's parseArgs, strict, its errors as bad usage (exit 2). */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** parseArgs with `strict`; anything it rejects (an unknown option, a missing value, a positional when none are allowed) is a UsageError. */
export function parseUsage<const O extends Options, const P extends boolean = true>(argv: string[], options: O, allowPositionals?: P) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: (allowPositionals ?? true) as P extends false ? false : true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}
