import { fileURLToPath } from 'node:url';
import { relative } from 'node:path';

/** Absolute path of a fixture under test/fixtures/spec/. */
export function fixture(name: string): string {
  return fileURLToPath(new URL(`../fixtures/spec/${name}`, import.meta.url));
}

/** How errors name a fixture: relative to the working directory, as the CLI shows it. */
export function shown(name: string): string {
  return relative(process.cwd(), fixture(name));
}
