import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { RolloutError } from '../errors.js';
import { SpecError } from '../spec/spec-error.js';
import { EXIT_CODES } from '../rollout/report.js';
import type { OutputFormat } from './common.js';
import { printJson } from './common.js';
import {
  common,
  duration,
  idList,
  integer,
  pruneRule,
  serverAccess,
  signedInteger,
  withCommon,
  withDroneAccess,
  withOutput,
  withServerAccess,
  type RawAgent,
  type RawCommon,
  type RawDroneAccess,
  type RawFleetSim,
  type RawOutput,
} from './flags.js';
import type { PruneRule } from './prune.js';

/**
 * `load` imports a command's module when it runs, not before: `rollout lock ls` or `fleet sim` never
 * loads the rollout machine, the signals or the spec schema (a spawn of the CLI starts in less time).
 */
function lazy<M, K extends keyof M>(load: () => Promise<M>, name: K) {
  type Command = M[K] extends (options: infer O) => Promise<number> ? (options: O) => Promise<number> : never;
  return (async (options: unknown) => {
    const command = (await load())[name] as (options: unknown) => Promise<number>;
    return command(options);
  }) as Command;
}

/** What each command runs; a test of the argv → options mapping passes its own. */
export const COMMANDS = {
  run: lazy(() => import('./commands/run.js'), 'runCommand'),
  plan: lazy(() => import('./commands/plan.js'), 'planCommand'),
  validate: lazy(() => import('./commands/validate.js'), 'validateCommand'),
  status: lazy(() => import('./commands/status.js'), 'statusCommand'),
  history: lazy(() => import('./commands/history.js'), 'historyCommand'),
  abort: lazy(() => import('./commands/operator.js'), 'abortCommand'),
  promote: lazy(() => import('./commands/operator.js'), 'promoteCommand'),
  resume: lazy(() => import('./commands/resume.js'), 'resumeCommand'),
  replay: lazy(() => import('./commands/replay.js'), 'replayCommand'),
  schema: lazy(() => import('./commands/schema.js'), 'schemaCommand'),
  agent: lazy(() => import('./commands/serve.js'), 'agentCommand'),
  fleetSim: lazy(() => import('./commands/serve.js'), 'fleetSimCommand'),
  lockList: lazy(() => import('./commands/lock.js'), 'lockListCommand'),
  lockReclaim: lazy(() => import('./commands/lock.js'), 'lockReclaimCommand'),
  lockRelease: lazy(() => import('./commands/lock.js'), 'lockReleaseCommand'),
  keysGenerate: lazy(() => import('./commands/keys.js'), 'keysGenerateCommand'),
  auditVerify: lazy(() => import('./commands/audit.js'), 'auditVerifyCommand'),
  auditExport: lazy(() => import('./commands/audit.js'), 'auditExportCommand'),
  ui: lazy(() => import('./commands/ui.js'), 'uiCommand'),
  report: lazy(() => import('./commands/report.js'), 'reportCommand'),
};

export type Commands = typeof COMMANDS;

function packageVersion(): string {
  const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

/** Exit code of an error that ends a command: bad input is 2, a live lock owner 3, anything else 1. */
function exitCodeOf(error: unknown): number {
  if (!(error instanceof RolloutError)) return 1;
  switch (error.code) {
    case 'E_SPEC_INVALID':
    case 'E_USAGE':
    case 'E_LOCK_NOT_FOUND':
    case 'E_ROLLOUT_NOT_FOUND':
      return EXIT_CODES.invalid;
    case 'E_LOCK_BUSY':
    case 'E_LOCK_OWNER_LIVE':
      return EXIT_CODES.lock_busy;
    default:
      return 1;
  }
}

function report(error: unknown, output: OutputFormat): number {
  const exitCode = exitCodeOf(error);
  const message = error instanceof Error ? error.message : String(error);
  if (output === 'json') {
    const code = error instanceof RolloutError ? error.code : 'E_INTERNAL';
    const issues = error instanceof SpecError ? error.issues : undefined;
    printJson({
      result: exitCode === EXIT_CODES.invalid ? 'invalid' : 'error',
      exitCode,
      code,
      reason: message,
      ...(issues ? { issues } : {}),
    });
  }
  process.stderr.write(`${message}\n`);
  if (!(error instanceof RolloutError) && error instanceof Error && error.stack)
    process.stderr.write(`${error.stack}\n`);
  return exitCode;
}

/** Builds the CLI; every action stores its exit code in `result` instead of exiting. */
export function buildProgram(result: { exitCode: number }, commands: Commands = COMMANDS): Command {
  const program = new Command('rollout')
    .description('Canary rollouts of config files to fleets of drones')
    .version(packageVersion(), '--version', "print fleet-rollout's version")
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)');

  const act =
    <T>(fn: (options: T) => Promise<number>) =>
    async (options: T & { readonly output?: OutputFormat }) => {
      try {
        result.exitCode = await fn(options);
      } catch (error) {
        result.exitCode = report(error, options.output ?? 'text');
      }
    };

  withDroneAccess(
    withCommon(program.command('run').argument('<spec>', 'rollout spec (YAML)'))
      .description('run one rollout to its end: pause, lock, canary, analysis, waves, promote or roll back')
      .option('--inventory <file>', "use this inventory instead of the spec's fleet.inventory"),
  ).action((spec: string, raw: RawCommon & RawDroneAccess & { inventory?: string }) =>
    act(commands.run)({ ...raw, ...common(raw), spec }),
  );

  withDroneAccess(
    withCommon(program.command('plan').argument('<spec>', 'rollout spec (YAML)'))
      .description("validate, reach every drone's /v1/health, print canary and waves; writes nothing")
      .option('--inventory <file>', "use this inventory instead of the spec's fleet.inventory"),
  ).action((spec: string, raw: RawCommon & RawDroneAccess & { inventory?: string }) =>
    act(commands.plan)({ ...raw, ...common(raw), spec }),
  );

  withCommon(program.command('validate').argument('<spec>', 'rollout spec (YAML)'))
    .description('offline validation of the spec, its config and inventory; exit 0 or 2')
    .option('--inventory <file>', "use this inventory instead of the spec's fleet.inventory")
    .action((spec: string, raw: RawCommon & { inventory?: string }) =>
      act(commands.validate)({ ...raw, ...common(raw), spec }),
    );

  withCommon(
    program.command('status').argument('[id]', 'a rollout id (default: every running rollout and the latest one)'),
  )
    .description('state, step, versions, latest verdicts and reason of rollouts in the state store')
    .option('--watch', 'follow one rollout until it ends; exits with its exit code', false)
    .action((id: string | undefined, raw: RawCommon & { watch: boolean }) =>
      act(commands.status)({ ...common(raw), watch: raw.watch, ...(id === undefined ? {} : { id }) }),
    );

  withCommon(program.command('history'))
    .description('every rollout in the state store, newest first, running ones included')
    .option(
      '--prune <age|count>',
      'remove ended rollouts (and their logs): 30d removes those that ended over 30 days ago, 50 keeps the newest 50',
      pruneRule,
    )
    .action((raw: RawCommon & { prune?: PruneRule }) =>
      act(commands.history)({ ...common(raw), ...(raw.prune === undefined ? {} : { prune: raw.prune }) }),
    );

  withCommon(program.command('abort').argument('<id>', 'the rollout id'))
    .description('ask a running rollout to abort: it rolls back, resumes the fleet, releases the lock and exits 1')
    .option('--reason <text>', 'why, for the audit log')
    .action((id: string, raw: RawCommon & { reason?: string }) =>
      act(commands.abort)({ ...common(raw), id, ...(raw.reason === undefined ? {} : { reason: raw.reason }) }),
    );

  withCommon(program.command('promote').argument('<id>', 'the rollout id'))
    .description('pass a manual gate (canary.approval: manual) of a running rollout')
    .action((id: string, raw: RawCommon) => act(commands.promote)({ ...common(raw), id }));

  withDroneAccess(
    withCommon(program.command('resume').argument('<id>', 'the rollout id'))
      .description('continue a rollout whose process died, from its persisted state, or roll it back')
      .option('--rollback', 'roll it back instead of finishing it', false),
  ).action((id: string, raw: RawCommon & RawDroneAccess & { rollback: boolean }) =>
    act(commands.resume)({
      ...common(raw),
      id,
      rollback: raw.rollback,
      ...(raw.tokenFile === undefined ? {} : { tokenFile: raw.tokenFile }),
      ...(raw.caFile === undefined ? {} : { caFile: raw.caFile }),
      ...(raw.clientCert === undefined ? {} : { clientCert: raw.clientCert }),
      ...(raw.clientKey === undefined ? {} : { clientKey: raw.clientKey }),
    }),
  );

  withCommon(program.command('replay').argument('<id>', 'the rollout id'))
    .description("re-judge a past rollout's recorded telemetry with other thresholds, interval by interval")
    .option('--spec <file>', "judge with this spec's analysis section (default: the rollout's own spec)")
    .action((id: string, raw: RawCommon & { spec?: string }) =>
      act(commands.replay)({ ...common(raw), id, ...(raw.spec === undefined ? {} : { spec: raw.spec }) }),
    );

  withCommon(program.command('ui'))
    .description('a live web page of every rollout in the state store (stages, drones, charts, audit log)')
    .option('--port <port>', 'port (0 picks one)', integer(0), 7300)
    .option(
      '--host <host>',
      'address to listen on (anything but loopback shows every rollout to the network)',
      '127.0.0.1',
    )
    .option('--allow-actions', 'add promote and abort buttons, recorded in the audit log as operator commands', false)
    .action((raw: RawCommon & { port: number; host: string; allowActions: boolean }) =>
      act(commands.ui)({ ...common(raw), port: raw.port, host: raw.host, allowActions: raw.allowActions }),
    );

  withCommon(program.command('report').argument('<id>', 'the rollout id'))
    .description('a report of one rollout: Markdown, one self-contained HTML file, or (--output json) every interval')
    .addOption(new Option('--format <format>', 'md (the default) or html').choices(['md', 'html']))
    .option('--out <file>', 'write it to this file instead of stdout')
    .action((id: string, raw: RawCommon & { format?: 'md' | 'html'; out?: string }) =>
      act(commands.report)({
        ...common(raw),
        id,
        ...(raw.format === undefined ? {} : { format: raw.format }),
        ...(raw.out === undefined ? {} : { out: raw.out }),
      }),
    );

  program
    .command('schema')
    .description('print the JSON Schema of the rollout spec')
    .action(() => act(commands.schema)({}));

  withServerAccess(
    withOutput(program.command('agent'))
      .description('run one drone agent serving /v1 and writing configs to --dir')
      .requiredOption('--id <id>', 'the drone id')
      .requiredOption('--dir <dir>', 'the config directory')
      .option('--port <port>', 'port (0 picks one)', integer(0), 7101)
      .option('--host <host>', 'address to listen on', '127.0.0.1'),
  )
    .option(
      '--operational-file <path>',
      'report the vehicle\'s operational state from this JSON file, {"flight","battery","mission"}, kept current by its software',
    )
    .option('--operational-url <url>', 'report it from this local http(s) endpoint instead (one or the other)')
    .option(
      '--operational-max-age <duration>',
      'an operational file not rewritten for this long reads as unknown (default: 60s)',
      duration,
    )
    .action(({ operationalMaxAge, ...raw }: RawAgent) =>
      act(commands.agent)({
        ...serverAccess(raw),
        ...(operationalMaxAge === undefined ? {} : { operationalMaxAgeMs: operationalMaxAge }),
      }),
    );

  const fleet = program.command('fleet').description('simulated fleets');
  const sim = withOutput(fleet.command('sim'))
    .description('a simulated fleet on loopback, drones under /d/<id>, until stopped')
    .option('--drones <n>', 'how many drones', integer(1), 20)
    .option('--port <port>', 'port (0 picks one)', integer(0), 7100)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--hot <ids>', 'drones whose local lock is held by another owner (comma-separated)', idList, [])
    .option('--hot-on-push <ids>', 'drones that turn HOT when their first push arrives (comma-separated)', idList, [])
    .option('--stale <ids>', 'drones left with a stale local lock, reclaimed on boot', idList, [])
    .option('--fail <ids>', 'drones that fail every config write', idList, [])
    .option('--slow <ids>', 'drones that answer late', idList, [])
    .option('--slow-ms <ms>', 'how late slow drones answer', integer(0), 1500)
    .option('--airborne <ids>', 'drones that report they fly; the others are grounded (comma-separated)', idList, [])
    .option('--battery <pairs>', 'battery percent by drone, such as drone-2=15,drone-3=40 (default: 100)', idList, [])
    .option('--mission <pairs>', 'the mission a drone is on, such as drone-5=survey-7 (default: none)', idList, [])
    .option(
      '--clock-offset <ms>',
      "run every simulated drone's clock this many ms off the host's (negative: --clock-offset=-300000)",
      signedInteger,
    )
    .option('--config-file <name>', 'the config file every drone starts with', 'aim_lock_config.conf')
    .option('--inventory-out <file>', 'write the inventory (drones: [{id, url, labels}]) here')
    .option('--dir <dir>', "root of the drones' config dirs (default: a temp dir removed on exit)")
    .option('--in-memory', "keep the drones' state in memory: no config dir, no file written, no fsync", false)
    .option('--seed <n>', 'telemetry seed', integer(0), 1);
  withServerAccess(sim).action(({ clockOffset, ...raw }: RawFleetSim) =>
    act(commands.fleetSim)({
      ...serverAccess(raw),
      ...(clockOffset === undefined ? {} : { clockOffsetMs: clockOffset }),
    }),
  );

  const keys = program
    .command('keys')
    .description('keys to sign configs with (config.sign.key_file) and to trust them with (agent --trust-key)');
  withOutput(keys.command('generate'))
    .description('write a new Ed25519 key pair: <name>.key (private, mode 0600) and <name>.pub (public)')
    .requiredOption('--out <name>', 'write <name>.key and <name>.pub; refuses to overwrite either')
    .action((raw: RawOutput & { out: string }) => act(commands.keysGenerate)(raw));

  const lock = program.command('lock').description('the config lock table');
  withCommon(lock.command('ls'))
    .description('the lock table: key, owner, fence, acquired, heartbeat, held/stale')
    .action((raw: RawCommon) => act(commands.lockList)(common(raw)));
  withCommon(lock.command('reclaim'))
    .description('free every stale lock (dead owner, rebooted host, expired lease)')
    .action((raw: RawCommon) => act(commands.lockReclaim)(common(raw)));
  withCommon(lock.command('release').argument('<key>', 'the lock key (the config file name)'))
    .description('free one lock by hand; refuses a live owner unless --force')
    .option('--force', 'release even if the owner is alive', false)
    .action((key: string, raw: RawCommon & { force: boolean }) =>
      act(commands.lockRelease)({ ...common(raw), key, force: raw.force }),
    );

  const audit = program.command('audit').description("a rollout's hash-chained audit log");
  withCommon(audit.command('verify').argument('<id>', 'the rollout id'))
    .description('check the hash chain of the audit log; names the first line changed, removed, inserted or moved')
    .action((id: string, raw: RawCommon) => act(commands.auditVerify)({ ...common(raw), id }));
  withCommon(audit.command('export').argument('<id>', 'the rollout id'))
    .description('print the audit log as NDJSON, each event with its seq and prev, for an archive elsewhere')
    .action((id: string, raw: RawCommon) => act(commands.auditExport)({ ...common(raw), id }));

  return program;
}

/** Parses argv, runs the command, returns the process exit code: the one place it is decided. */
export async function main(argv: readonly string[], commands: Commands = COMMANDS): Promise<number> {
  const result = { exitCode: 0 };
  const program = buildProgram(result, commands);
  try {
    await program.parseAsync([...argv], { from: 'node' });
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? 0 : EXIT_CODES.invalid;
    }
    return report(error, 'text');
  }
  return result.exitCode;
}
