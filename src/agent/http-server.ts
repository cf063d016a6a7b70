import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { RolloutError } from '../errors.js';
import { isErrno } from '../infra/errno.js';
import type { RequestHandler } from './request-handler.js';

export interface RunningServer {
  /** Base URL, e.g. `http://127.0.0.1:7101`, or `https://…` when it serves TLS. */
  readonly url: string;
  /** Stops listening, lets requests in flight finish, then drops every connection. Idempotent. */
  close(): Promise<void>;
}

/** HTTPS for the agent and the simulator: PEM texts, already read and checked. */
export interface ServerTls {
  /** The server's certificate, its chain after it. */
  readonly cert: string;
  readonly key: string;
  /**
   * Mutual TLS: a client must present a certificate this CA (PEM, one or more) signed, or the TLS
   * handshake fails before any request is read.
   */
  readonly clientCa?: string;
}

/** A TLS client the server turned away, or whose handshake failed: for the server's log. */
export interface TlsClientRefusal {
  /** `127.0.0.1:53122` */
  readonly peer: string;
  /** Why, in words, with the TLS code. */
  readonly reason: string;
  /** True when the client's certificate was missing or did not verify against the client CA. */
  readonly certificate: boolean;
}

export interface ServeOptions {
  /** 0 picks a free port. */
  readonly port: number;
  readonly host: string;
  /** Serve HTTPS; with `clientCa`, mutual TLS. @default plain HTTP */
  readonly tls?: ServerTls;
  /** Told of each TLS handshake that failed, a client refused for its certificate among them. */
  readonly onTlsClientError?: (refusal: TlsClientRefusal) => void;
}

function createAnyServer(
  listener: (request: Parameters<RequestHandler>[0], response: Parameters<RequestHandler>[1]) => void,
  options: ServeOptions,
): Server {
  const { tls } = options;
  if (tls === undefined) return createServer(listener);
  const server = createHttpsServer(
    {
      cert: tls.cert,
      key: tls.key,
      ...(tls.clientCa === undefined ? {} : { ca: tls.clientCa, requestCert: true, rejectUnauthorized: true }),
    },
    listener,
  );
  server.on('tlsClientError', (error: Error & { code?: string }, socket: TLSSocket) => {
    options.onTlsClientError?.(describeRefusal(error, socket));
  });
  // An https.Server is an http.Server over TLS: the same keep-alive, close and connection calls.
  return server;
}

/** Node refuses an unverified client certificate by closing the socket: `authorizationError` says why. */
function describeRefusal(error: Error & { code?: string }, socket: TLSSocket): TlsClientRefusal {
  const peer = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
  // Typed as an Error, but Node sets the verify code's string (UNABLE_TO_VERIFY_LEAF_SIGNATURE).
  const verify: unknown = socket.authorizationError;
  if (typeof verify === 'string' || verify instanceof Error) {
    const code = typeof verify === 'string' ? verify : ((verify as Error & { code?: string }).code ?? verify.message);
    return { peer, reason: `its client certificate did not verify against --client-ca (${code})`, certificate: true };
  }
  if (error.code === 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE')
    return { peer, reason: `it sent no client certificate (${error.code})`, certificate: true };
  return {
    peer,
    reason: `the TLS handshake failed (${error.code ?? 'no code'}: ${error.message.split('\n')[0] ?? ''}); a client that does not trust this server's certificate hangs up like this`,
    certificate: false,
  };
}

export async function serve(handler: RequestHandler, options: ServeOptions): Promise<RunningServer> {
  const inFlight = new Set<Promise<void>>();
  const server = createAnyServer((request, response) => {
    const handling = handler(request, response).finally(() => inFlight.delete(handling));
    inFlight.add(handling);
  }, options);
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
    url: `${options.tls === undefined ? 'http' : 'https'}://${host}:${port}`,
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
