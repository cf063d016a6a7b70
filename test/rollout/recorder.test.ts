import { pino, type Logger } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { RolloutError } from '../../src/errors.js';
import { Ledger } from '../../src/rollout/ledger.js';
import { RolloutRecorder } from '../../src/rollout/recorder.js';
import { createEmbeddedStateStore } from '../../src/store/embedded/store.js';
import type { StateStore } from '../../src/store/types.js';
import { sampleRecord } from '../store/conformance.js';
import { makeStateDir } from '../store/temp-dir.js';

const ID = 'aim-v43-recorder';

/** A real embedded store whose saveSnapshot fails the first `failures` times with `error`. */
function failingSnapshots(store: StateStore, failures: number, error: () => Error): StateStore {
  let left = failures;
  return new Proxy(store, {
    get(target, property, receiver) {
      if (property === 'saveSnapshot') {
        return (id: string, snapshot: unknown) =>
          left-- > 0 ? Promise.reject(error()) : target.saveSnapshot(id, snapshot);
      }
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

describe('RolloutRecorder', () => {
  let cleanup: (() => Promise<void>) | undefined;

  afterEach(async () => {
    await cleanup?.();
    cleanup = undefined;
  });

  async function recorderOver(wrap: (store: StateStore) => StateStore, logger: Logger = pino({ level: 'silent' })) {
    const { dir, remove } = await makeStateDir();
    const store = createEmbeddedStateStore({ dir });
    cleanup = async () => {
      await store.close();
      await remove();
    };
    await store.createRollout(sampleRecord(ID));
    const recorder = new RolloutRecorder({ store: wrap(store), id: ID, ledger: new Ledger(), logger, now: Date.now });
    return { store, recorder };
  }

  it('retries only the write that failed: an audit batch that landed is not appended again', async () => {
    const { store, recorder } = await recorderOver((s) =>
      failingSnapshots(s, 2, () => new RolloutError('E_STATE_STORE', 'etcd did not answer')),
    );

    recorder.audit('pause', { drone: 'drone-1', ok: true });
    recorder.transition({ value: 'locked' }, { stage: 'locked' }, { to: 'locked' });
    await recorder.flush();

    const audit = await store.readAudit(ID);
    expect(audit.map((e) => e.kind)).toEqual(['pause', 'transition']);
    expect(await store.loadSnapshot(ID)).toEqual({ value: 'locked' });
    expect((await store.getRollout(ID))?.stage).toBe('locked');
  });

  it('gives up at once on an error that is not the store being unreachable, and every flush says so', async () => {
    const { store, recorder } = await recorderOver((s) =>
      failingSnapshots(s, 1, () => new TypeError('Expected `snapshot` to be JSON-serialisable')),
    );

    recorder.transition({ value: 'locked' }, { stage: 'locked' }, { to: 'locked' });
    const started = performance.now();
    await expect(recorder.flush()).rejects.toThrow(TypeError);
    expect(performance.now() - started).toBeLessThan(1_000);
    await expect(recorder.flush()).rejects.toThrow(TypeError);
    expect((await store.readAudit(ID)).map((e) => e.kind)).toEqual(['transition']);
    expect(await store.loadSnapshot(ID)).toBeNull();
  });

  it('flushOrLog resolves when the store fails for good, and logs why', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'error' }, { write: (line: string) => void lines.push(line) });
    const { recorder } = await recorderOver((s) => failingSnapshots(s, 1, () => new TypeError('not JSON')), logger);

    recorder.transition({ value: 'rollingBack' }, { stage: 'rollingBack' }, { to: 'rollingBack' });
    await expect(recorder.flushOrLog('rolling back without the state store')).resolves.toBeUndefined();

    expect(lines.map((line) => (JSON.parse(line) as { msg: string }).msg)).toContain(
      'rolling back without the state store',
    );
  });

  it('writes behind: transitions while the store is slow make one batch, the latest snapshot, every event in order', async () => {
    const writes: string[] = [];
    const { store, recorder } = await recorderOver((s) => slowStore(s, writes));

    recorder.transition({ value: 'pausingFleet' }, { stage: 'pausing' }, { to: 'pausing' });
    // The first batch is being written now; these wait for the next one, together.
    for (const stage of ['locking', 'pushing', 'resuming']) {
      recorder.audit('pause', { drone: `drone-${stage}`, ok: true });
      recorder.transition({ value: stage }, { stage }, { to: stage });
    }
    await recorder.flush();

    expect(writes.filter((write) => write === 'saveSnapshot')).toHaveLength(2);
    expect(await store.loadSnapshot(ID)).toEqual({ value: 'resuming' });
    expect((await store.readAudit(ID)).map((event) => event.to ?? event.drone)).toEqual([
      'pausing',
      'drone-locking',
      'locking',
      'drone-pushing',
      'pushing',
      'drone-resuming',
      'resuming',
    ]);
    expect((await store.getRollout(ID))?.stage).toBe('resuming');
  });

  it('a flush waits for what was buffered when it was called, not for a stage that goes on logging', async () => {
    const { store, recorder } = await recorderOver((s) => slowStore(s, []));
    recorder.audit('push.begin');
    const logging = new AbortController();
    const logger = (async () => {
      for (let n = 0; !logging.signal.aborted; n += 1) {
        recorder.audit('push', { drone: `drone-${n}` });
        void recorder.flushOrLog('periodic flush');
        await new Promise((done) => setTimeout(done, 1));
      }
    })();

    await recorder.flush();
    logging.abort();
    await logger;

    expect((await store.readAudit(ID))[0]?.kind).toBe('push.begin');
  });
});

/** The store, each write 30 ms slower, its name recorded as it starts. */
function slowStore(store: StateStore, writes: string[]): StateStore {
  return new Proxy(store, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      const method = (value as (...args: unknown[]) => Promise<unknown>).bind(target);
      if (!['saveSnapshot', 'appendAudit', 'saveProgress', 'updateRollout'].includes(String(property))) return method;
      return async (...args: unknown[]) => {
        writes.push(String(property));
        await new Promise((done) => setTimeout(done, 30));
        return method(...args);
      };
    },
  });
}
