import cliProgress from 'cli-progress';

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  /** A bar with ETA on a terminal; silent otherwise (the caller logs one line per unit of work). */
  progress(label: string, total: number, unit: string): Progress;
}

export interface Progress {
  update(value: number, extra?: string): void;
  stop(): void;
}

const silent: Progress = { update() {}, stop() {} };

export interface LoggerOptions {
  /** progress bars (default: when stderr is a terminal) */
  tty?: boolean;
  /** nothing but errors, which are not the logger's (`--quiet`): no info, no warning, no bar */
  quiet?: boolean;
  /**
   * Where info lines go (default stdout). `--json` sends them to stderr: its stdout is one JSON
   * line that a script parses.
   */
  infoStream?: NodeJS.WritableStream;
}

export function consoleLogger(options: LoggerOptions = {}): Logger {
  const tty = options.tty ?? Boolean(process.stderr.isTTY);
  const out = options.infoStream ?? process.stdout;
  return {
    info(message) {
      if (!options.quiet) out.write(`${message}\n`);
    },
    warn(message) {
      if (!options.quiet) process.stderr.write(`warning: ${message}\n`);
    },
    progress(label, total, unit) {
      if (!tty || options.quiet) return silent;
      const bar = new cliProgress.SingleBar(
        {
          format: `${label} [{bar}] {percentage}% {value}/{total} ${unit} | ETA {eta_formatted} {extra}`,
          stream: process.stderr,
          hideCursor: true,
          clearOnComplete: true,
          etaBuffer: 50,
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(total, 0, { extra: '' });
      return {
        update(value, extra = '') {
          bar.update(value, { extra });
        },
        stop() {
          bar.stop();
        },
      };
    },
  };
}
