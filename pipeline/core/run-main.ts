/** How a command ends: its exit code, or the error's message and the exit-code contract of errors.ts. */
import { exitCodeOf, messageOf, UsageError } from './errors.js';

/**
 * Runs a command's main and exits; `usageHint` is the line a usage error ends with (where the help
 * is). `finish`, when given, writes the command's last line after the error lines, whatever ended
 * it: an error main threw, or SIGINT/SIGTERM (the pipeline's `failed: ...` or its JSON line).
 */
export function runMain(main: (argv: string[]) => Promise<number>, usageHint: string, finish?: (err: unknown, code: number) => void): void {
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.once(signal, () => {
      // process.exit runs the exit hooks (lock.ts releases the run's lock there).
      const message = `interrupted (${signal}): finished steps and epochs are kept; run the same command again to resume`;
      process.stderr.write(`\n${message}\n`);
      finish?.(new Error(message), code);
      process.exit(code);
    });
  }
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`error: ${messageOf(err)}\n`);
      if (err instanceof UsageError) process.stderr.write(`${usageHint}\n`);
      if (process.env.CNN_LENS_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
      finish?.(err, exitCodeOf(err));
      process.exit(exitCodeOf(err));
    },
  );
}
