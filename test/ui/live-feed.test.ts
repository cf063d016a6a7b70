import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { LiveFeed } from '../../src/ui/live-feed.js';

describe('a live feed', () => {
  let server: Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise((done) => server?.close(done));
    server = undefined;
  });

  /** One listener on a feed of `read`; resolves with the event blocks once `count` have arrived. */
  async function listen(read: () => Promise<string>, count: number): Promise<{ blocks: string[]; idle: boolean }> {
    let idle = false;
    const feed = new LiveFeed({ read, pollMs: 20, onIdle: () => (idle = true) });
    server = createServer((_request, response) => feed.add(response));
    await new Promise<void>((done) => server?.listen(0, '127.0.0.1', () => done()));
    const { port } = server.address() as AddressInfo;
    const blocks = await new Promise<string[]>((done, fail) => {
      const req = request(`http://127.0.0.1:${port}/`, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (chunk: string) => {
          text += chunk;
          const seen = text.split('\n\n').filter((block) => block !== '' && !block.startsWith('retry:'));
          if (seen.length >= count) {
            req.destroy();
            done(seen.slice(0, count));
          }
        });
      });
      req.on('error', (error) => (req.destroyed ? undefined : fail(error)));
      req.end();
    });
    await expect.poll(() => idle).toBe(true);
    return { blocks, idle };
  }

  it('tells a store error once, then sends the view again when the store is back, changed or not', async () => {
    const answers: (string | Error)[] = ['A', new Error('etcd did not answer'), new Error('etcd did not answer'), 'A'];
    let reads = 0;
    const read = async () => {
      const answer = answers[Math.min(reads++, answers.length - 1)] as string | Error;
      if (answer instanceof Error) throw answer;
      return answer;
    };
    const { blocks } = await listen(read, 3);
    expect(blocks).toEqual(['data: A', 'event: store-error\ndata: {"message":"etcd did not answer"}', 'data: A']);
  });

  it('stops reading once its last listener has gone', async () => {
    let reads = 0;
    await listen(async () => `view ${reads++}`, 2);
    const after = reads;
    await new Promise((done) => setTimeout(done, 100));
    expect(reads).toBe(after);
  });
});
