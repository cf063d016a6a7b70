import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RolloutError } from '../errors.js';
import { isErrno } from '../infra/errno.js';
import type { RequestHandler } from './request-handler.js';

export interface RunningServer {
  /** Base URL, e.g. `http://127.0.0.1:7101`. */
  readonly url: string;
  /** Stops listening, lets requests in flight finish, then drops every connection. Idempotent. */
  close(): Promise<void>;
}

export interface ServeOptions {
  /** 0 picks a free port. */
  readonly port: number;
  readonly host: string;
}

export async function serve(handler: RequestHandler, options: ServeOptions): Promise<RunningServer> {
  const inFlight = new Set<Promise<void>>();
  const server = createServer((request, response) => {
    const handling = handler(request, response).finally(() => inFlight.delete(handling));
    inFlight.add(handling);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => {
      // A port someone else listens on is the command line's to fix: a usage error, not a crash.
      reject(
        isErrno(error, 'EADDRINUSE')
          ? new RolloutError(
              'E_USAGE',
              `port ${options.port} on ${options.host} is already in use; pick another port, or 0 for a free one`,
              { cause: error },
            )
          : error,
      );
    });
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}`,
    close: () => {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        // Handlers keep running after a client hangs up; wait so no write outlives close().
        await Promise.allSettled([...inFlight]);
        server.closeAllConnections();
        await closed;
      })();
      return closing;
    },
  };
}
