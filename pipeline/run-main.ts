/** How a command ends: its exit code, or the error's message and the exit-code contract of errors.ts. */
import { exitCodeOf, messageOf, UsageError } from './errors.js';

/** Runs a command's main and exits; `usageHint` is the line a usage error ends with (where the help is). */
export function runMain(main: (argv: string[]) => Promise<number>, usageHint: string): void {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`error: ${messageOf(err)}\n`);
      if (err instanceof UsageError) process.stderr.write(`${usageHint}\n`);
      if (process.env.CNN_LENS_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
      process.exit(exitCodeOf(err));
    },
  );
}
