/**
 * Exit-code contract: 0 success, 1 a step failed, 2 bad usage or bad input.
 * Anything thrown that is not a BadInputError counts as a step failure (1).
 */
export class BadInputError extends Error {
  readonly exitCode = 2;
  constructor(message: string) {
    super(message);
    this.name = 'BadInputError';
  }
}

/** Wrong command line: same exit code as bad input, kept apart so the CLI can add usage help. */
export class UsageError extends BadInputError {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function exitCodeOf(err: unknown): number {
  return err instanceof BadInputError ? 2 : 1;
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
