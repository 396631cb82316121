/** `npm run compare -- <run>... | --runs <glob> [options]`: see --help (pipeline/compare/cli.ts). */
import { compareMain } from './compare/main.js';
import { runMain } from './core/run-main.js';

runMain(compareMain, 'Run `npm run compare -- --help` for the options.');
