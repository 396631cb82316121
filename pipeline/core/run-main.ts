/** How a command ends: its exit code, or the error's message and the exit-code contract of errors.ts. */
import { exitCodeOf, messageOf, UsageError } from './errors.js';

/** Runs a command's main and exits; `usageHint` is the line a usage error ends with (where the help is). */
export function runMain(main: (argv: string[]) => Promise<number>, usageHint: string): void {
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.once(signal, () => {
      // process.exit runs the exit hooks (proper-lockfile releases the run's lock there).
      process.stderr.write(`\ninterrupted (${signal}): finished steps and epochs are kept; run the same command again to resume\n`);
      process.exit(code);
    });
  }
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
