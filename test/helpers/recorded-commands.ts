import { COMMANDS, type Commands } from '../../src/cli/program.js';

/** One command run by `main`, with the options the argv became. */
export interface RecordedCall {
  readonly command: keyof Commands;
  readonly options: Record<string, unknown>;
}

/** Every command replaced by one that records what it was given and exits 0: argv → options tests. */
export function recordingCommands(calls: RecordedCall[]): Commands {
  const names = Object.keys(COMMANDS) as (keyof Commands)[];
  return Object.fromEntries(
    names.map((command) => [
      command,
      async (options?: unknown) => {
        calls.push({ command, options: { ...(options as object | undefined) } });
        return 0;
      },
    ]),
  ) as Record<keyof Commands, (options?: unknown) => Promise<number>>;
}
