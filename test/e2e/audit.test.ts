import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { auditExportCommand, auditVerifyCommand, type AuditOptions } from '../../src/cli/commands/audit.js';
import { killAt, logged } from '../helpers/chaos.js';
import { runCli, startCli, startSimProcess, tempDir, type SimProcess } from '../helpers/cli.js';
import { etcdAvailable } from '../helpers/etcd.js';
import { useEtcd } from '../helpers/etcd-suite.js';
import { parseReport, runArgs, within, writeSpec } from '../helpers/fleet.js';
import { rejection } from '../helpers/rejection.js';

/**
 * `rollout audit verify` and `rollout audit export` on the audit log of a real rollout: the real CLI runs
 * it against a simulated fleet, then the command functions check and print what it recorded.
 */

interface Captured {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command in this process, with what it writes to stdout and stderr kept instead of shown. */
async function capture(command: () => Promise<number>): Promise<Captured> {
  let stdout = '';
  let stderr = '';
  const keep =
    (into: (text: string) => void) =>
    (chunk: string | Uint8Array): boolean => {
      into(chunk.toString());
      return true;
    };
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(keep((text) => (stdout += text)));
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(keep((text) => (stderr += text)));
  try {
    return { code: await command(), stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

/** The first line that records a push to a drone, and is not the last line (a last line has nobody after it to vouch for it). */
function pushLine(lines: readonly string[]): number {
  const index = lines.findIndex((line, at) => at < lines.length - 1 && /"kind":"push","drone":"drone-\d+"/.test(line));
  expect(index, 'a push event in the audit log').toBeGreaterThanOrEqual(0);
  return index + 1;
}

describe('rollout audit verify and export on a rollout the real CLI ran', () => {
  let sim: SimProcess | undefined;
  let state: { path: string; remove(): Promise<void> };

  beforeEach(async () => {
    state = await tempDir('rollout-audit-');
  });

  afterEach(async () => {
    await sim?.stop();
    sim = undefined;
    await state.remove();
  });

  it('says an intact log is intact, names the line whose drone id was edited, and exports every line', async () => {
    sim = await startSimProcess(['--drones', '6']);
    const spec = await writeSpec(state.path, 'audited', { bake: '500ms' });
    const run = await runCli(runArgs(spec, sim, state.path));
    expect(run.code, run.stderr).toBe(0);
    const { id } = parseReport(run);
    const options = (output: 'text' | 'json'): AuditOptions => ({
      id,
      stateDir: state.path,
      output,
      logLevel: 'silent',
    });
    const file = join(state.path, 'rollouts', id, 'audit.ndjson');
    const text = await readFile(file, 'utf8');
    const lines = text.trimEnd().split('\n');

    // Given the log as the rollout left it
    const intact = await capture(() => auditVerifyCommand(options('text')));
    expect(intact).toEqual({ code: 0, stdout: `audit log of ${id} intact: ${lines.length} events\n`, stderr: '' });
    const intactJson = await capture(() => auditVerifyCommand(options('json')));
    expect(intactJson.code).toBe(0);
    expect(JSON.parse(intactJson.stdout)).toEqual({ id, ok: true, events: lines.length, head: expect.any(String) });

    const exported = await capture(() => auditExportCommand(options('text')));
    expect(exported).toEqual({ code: 0, stdout: text, stderr: '' });
    const events = exported.stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(events.map((event) => event['seq'])).toEqual(lines.map((_, seq) => seq));
    expect(events.every((event) => typeof event['prev'] === 'string')).toBe(true);
    expect(events.map((event) => event['kind'])).toEqual(expect.arrayContaining(['started', 'push', 'ended']));

    // When someone changes the drone of one push in the file
    const edited = pushLine(lines);
    const spoiled = lines.map((line, at) =>
      at === edited - 1 ? line.replace(/"drone":"drone-\d+"/, '"drone":"drone-999"') : line,
    );
    await writeFile(file, `${spoiled.join('\n')}\n`);

    // Then verify names that line, and exits 1
    const problem = `line ${edited} was changed: its hash does not match what line ${edited + 1} recorded`;
    const broken = await capture(() => auditVerifyCommand(options('text')));
    expect(broken).toEqual({ code: 1, stdout: `audit log of ${id} is not intact: ${problem}\n`, stderr: '' });
    const brokenJson = await capture(() => auditVerifyCommand(options('json')));
    expect(brokenJson.code).toBe(1);
    expect(JSON.parse(brokenJson.stdout)).toEqual({ id, ok: false, line: edited, fault: 'changed', problem });

    // And export still prints every line as stored, saying on stderr what is wrong
    const exportedBroken = await capture(() => auditExportCommand(options('text')));
    expect(exportedBroken.code).toBe(1);
    expect(exportedBroken.stdout).toBe(`${spoiled.join('\n')}\n`);
    expect(exportedBroken.stderr).toBe(`audit log of ${id} is not intact: ${problem}; exported as stored\n`);
  });

  it('keeps one chain across a process killed mid-canary and `rollout resume`', async () => {
    sim = await startSimProcess(['--drones', '6']);
    const spec = await writeSpec(state.path, 'resumed', { bake: '3s' });
    const running = startCli(runArgs(spec, sim, state.path));
    const killed = await killAt(running, state.path, logged('after a canary push', 'push'));

    const resumed = await within(
      runCli(['resume', killed.id, '--output', 'json', '--state-dir', state.path]),
      60_000,
      'rollout resume',
    );
    expect(resumed.code, resumed.stderr).toBe(0);

    const options: AuditOptions = { id: killed.id, stateDir: state.path, output: 'json', logLevel: 'silent' };
    const exported = await capture(() => auditExportCommand(options));
    expect(exported.code, exported.stderr).toBe(0);
    const events = exported.stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const resumedAt = events.findIndex((event) => event['kind'] === 'resumed');
    expect(resumedAt).toBeGreaterThanOrEqual(killed.after.length);
    expect(events.map((event) => event['seq'])).toEqual(events.map((_, seq) => seq));
    const verified = await capture(() => auditVerifyCommand(options));
    expect(JSON.parse(verified.stdout)).toEqual({
      id: killed.id,
      ok: true,
      events: events.length,
      head: expect.any(String),
    });
  });

  it('fails with E_ROLLOUT_NOT_FOUND for an id the state store does not hold', async () => {
    for (const command of [auditVerifyCommand, auditExportCommand]) {
      const error = await rejection(command({ id: 'nope', stateDir: state.path, output: 'text', logLevel: 'silent' }));
      expect(error.code).toBe('E_ROLLOUT_NOT_FOUND');
      expect(error.message).toMatch(/^no rollout nope in the state store/);
    }
  });
});

describe.runIf(etcdAvailable())('rollout audit verify on a rollout kept in etcd', () => {
  const etcd = useEtcd();
  let sim: SimProcess | undefined;
  let state: { path: string; remove(): Promise<void> } | undefined;

  beforeAll(async () => {
    sim = await startSimProcess(['--drones', '4']);
    state = await tempDir('rollout-audit-etcd-');
  });

  afterAll(async () => {
    await sim?.stop();
    await state?.remove();
  });

  it('says the log is intact, then names the line edited in its chunk', async () => {
    const dir = state!.path;
    const store = `etcd://${etcd.server.endpoint}`;
    const spec = await writeSpec(dir, 'audited-etcd', { bake: '500ms' });
    const run = await runCli([...runArgs(spec, sim!, dir), '--store', store]);
    expect(run.code, run.stderr).toBe(0);
    const { id } = parseReport(run);
    const options: AuditOptions = { id, stateDir: dir, store, output: 'json', logLevel: 'silent' };

    const exported = await capture(() => auditExportCommand(options));
    expect(exported.code, exported.stderr).toBe(0);
    const lines = exported.stdout.trimEnd().split('\n');
    const intact = await capture(() => auditVerifyCommand(options));
    expect(JSON.parse(intact.stdout)).toMatchObject({ id, ok: true, events: lines.length });

    // Edit the push line in whichever chunk holds it: lines are numbered across chunks, as export prints them.
    const edited = pushLine(lines);
    const client = new Etcd3({ hosts: etcd.server.endpoint });
    try {
      const chunks = await client
        .getAll()
        .prefix(`fleet-rollout/rollouts/${id}/audit/`)
        .sort('Key', 'Ascend')
        .strings();
      let first = 1;
      for (const [key, value] of Object.entries(chunks)) {
        const chunk = value.split('\n');
        chunk.pop();
        if (edited < first + chunk.length) {
          chunk[edited - first] = (chunk[edited - first] ?? '').replace(/"drone":"drone-\d+"/, '"drone":"drone-999"');
          await client.put(key).value(chunk.map((line) => `${line}\n`).join(''));
          break;
        }
        first += chunk.length;
      }
    } finally {
      client.close();
    }

    const broken = await capture(() => auditVerifyCommand(options));
    expect(broken.code).toBe(1);
    expect(JSON.parse(broken.stdout)).toEqual({
      id,
      ok: false,
      line: edited,
      fault: 'changed',
      problem: `line ${edited} was changed: its hash does not match what line ${edited + 1} recorded`,
    });
  });
});
