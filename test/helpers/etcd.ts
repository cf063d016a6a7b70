import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';

/** A single-node etcd on loopback, with a temp data dir and random ports, for the etcd suites. */
export interface EtcdServer {
  /** `host:port` of its client URL, as `--store etcd://` takes it. */
  readonly endpoint: string;
  /** Stops it (SIGTERM) and keeps its data, so `start` brings the same cluster back. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops it and removes its data dir. */
  destroy(): Promise<void>;
}

const INSTALL = 'install etcd to run them: `apt-get install etcd-server` (Debian) or put an `etcd` binary on PATH';

/** Whether an `etcd` binary is on PATH. In CI the etcd suites must run, so its absence fails there. */
export function etcdAvailable(): boolean {
  const found = spawnSync('etcd', ['--version'], { stdio: 'ignore' }).status === 0;
  if (!found && process.env.CI)
    throw new Error(`CI must run the etcd suites but no etcd is on PATH: ${INSTALL} (.ci/run does)`);
  if (!found) console.log(`etcd suites skipped: no etcd on PATH; ${INSTALL}`);
  return found;
}

async function healthy(clientUrl: string, child: ChildProcess, deadline: number): Promise<void> {
  for (;;) {
    if (child.exitCode !== null) throw new Error(`etcd exited with ${child.exitCode} before it was ready`);
    try {
      const answer = await fetch(`${clientUrl}/health`);
      if (answer.ok && ((await answer.json()) as { health?: string }).health === 'true') return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`etcd at ${clientUrl} was not healthy within 20 s`);
    await new Promise((done) => setTimeout(done, 100));
  }
}

export async function startEtcd(): Promise<EtcdServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'fleet-etcd-'));
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const clientUrl = `http://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const args = [
    '--name',
    'fleet-test',
    '--data-dir',
    join(dataDir, 'data'),
    '--listen-client-urls',
    clientUrl,
    '--advertise-client-urls',
    clientUrl,
    '--listen-peer-urls',
    peerUrl,
    '--initial-advertise-peer-urls',
    peerUrl,
    '--initial-cluster',
    `fleet-test=${peerUrl}`,
    '--log-level',
    'error',
  ];
  let child: ChildProcess | null = null;
  const server: EtcdServer = {
    endpoint: `127.0.0.1:${clientPort}`,
    async start() {
      const started = spawn('etcd', args, { stdio: ['ignore', 'ignore', 'pipe'] });
      started.stderr.resume();
      child = started;
      await healthy(clientUrl, started, Date.now() + 20_000);
    },
    async stop() {
      const running = child;
      child = null;
      if (running?.exitCode !== null) return; // never started, or already exited
      const exited = new Promise<void>((done) => running.once('exit', () => done()));
      running.kill('SIGTERM');
      await exited;
    },
    async destroy() {
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  await server.start();
  return server;
}
