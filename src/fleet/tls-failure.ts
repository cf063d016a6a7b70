import type { Drone } from '../spec/types.js';
import type { DroneTls } from './drone-tls.js';

/**
 * The `status` of a `refused` drone failure that had no HTTP answer: the TLS handshake failed on a
 * certificate, the drone's or ours. Like 401 and 404 it is the rollout's configuration, not the drone's
 * health: never retried (but for a hang-up without a TLS alert, which a dying drone could cause too), and
 * `misconfiguration()` says what to check.
 */
export const TLS_REFUSED_STATUS = 0;

/** The drone hung up, without a TLS alert, on a fresh connection after we presented our client certificate. */
export const TLS_HANG_UP_CODE = 'TLS_CLOSED_AFTER_CLIENT_CERTIFICATE';

/** A drone's certificate that does not chain to the CA we trust. */
const UNTRUSTED: ReadonlySet<string> = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_CHAIN_TOO_LONG',
  'INVALID_CA',
  'CERT_REJECTED',
]);

/**
 * TLS alerts a drone sends when it refuses our client certificate (`ours` names it), or that we sent
 * none: what it did, after "it ".
 */
const CLIENT_REFUSED: Readonly<Record<string, (ours: string) => string>> = {
  ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: () =>
    'requires a client certificate, and this orchestrator has none (neither fleet.tls.cert nor --client-cert is given)',
  ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: (ours) => `does not know the CA that signed ${ours}`,
  ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE: (ours) => `rejects ${ours} as a bad certificate`,
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED: (ours) => `finds ${ours} expired`,
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED: (ours) => `finds ${ours} revoked`,
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN: (ours) => `cannot use ${ours}`,
  ERR_SSL_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE: (ours) => `cannot use ${ours}`,
  ERR_SSL_TLSV1_ALERT_ACCESS_DENIED: (ours) => `denies access to ${ours}`,
};

/** What a drone's certificate failed on, in words after "certificate of drone-3 (…) ". */
const SERVER_CERTIFICATE: Readonly<Record<string, string>> = {
  CERT_HAS_EXPIRED: 'has expired',
  CERT_NOT_YET_VALID: 'is not valid yet',
  INVALID_PURPOSE: 'is not a server certificate (its extendedKeyUsage lacks serverAuth)',
};

const CHECK_CA = "check that fleet.tls.ca (or --ca-file) is the CA that signed the agents' --tls-cert";
const CHECK_CLIENT =
  "check that the CA of the agent's --client-ca signed fleet.tls.cert (or --client-cert), and that it has not expired";

/** What to check, by code: the second half of a TLS failure's story. */
const CHECKS: Readonly<Record<string, string>> = {
  CERT_HAS_EXPIRED: "renew the agent's --tls-cert, and check the clocks of the drone and of this host",
  CERT_NOT_YET_VALID: "check the clocks of the drone and of this host, or wait until the agent's --tls-cert is valid",
  INVALID_PURPOSE: "reissue the agent's --tls-cert with extendedKeyUsage serverAuth",
  ERR_TLS_CERT_ALTNAME_INVALID:
    "the host in the drone's url must be a DNS name or IP address in the certificate's subjectAltName: reissue the agent's --tls-cert with it, or fix the url in the inventory",
  ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED:
    "give fleet.tls.cert and fleet.tls.key (or --client-cert and --client-key): a certificate signed by the CA of the agent's --client-ca",
  ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE:
    'give fleet.tls.cert and fleet.tls.key (or --client-cert and --client-key) if the agent has --client-ca, and check that it signed them',
  ERR_SSL_WRONG_VERSION_NUMBER:
    "the drone's url says https:// but the agent serves plain HTTP: start it with --tls-cert and --tls-key, or use http:// in the inventory",
  [TLS_HANG_UP_CODE]: CHECK_CLIENT,
};

/** The TLS failure a request error stands for, if it is one: its code and the message naming the drone. */
export interface TlsFailure {
  readonly code: string;
  readonly message: string;
}

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * A request error that is a certificate problem, described: the drone's certificate does not verify
 * (wrong CA, wrong name, expired), the drone refuses ours or wants one, or it does not speak TLS at all.
 * Undefined for any other error (a refused connection, a timeout): those may pass.
 */
export function tlsFailure(error: unknown, drone: Drone, tls: DroneTls | undefined): TlsFailure | undefined {
  const code = codeOf(error);
  if (code === undefined) return undefined;
  const detail = error instanceof Error ? (error.message.split('\n')[0] ?? '') : '';
  const certificate = `certificate of ${drone.id} (${drone.url})`;
  if (UNTRUSTED.has(code)) {
    const ca =
      tls?.caFrom === undefined
        ? "a CA this orchestrator trusts (Node's built-in CAs: neither fleet.tls.ca nor --ca-file is given)"
        : `the CA in ${tls.caFrom}`;
    return { code, message: `${certificate} is not signed by ${ca} (${code}: ${detail})` };
  }
  const server = SERVER_CERTIFICATE[code];
  if (server !== undefined) return { code, message: `${certificate} ${server} (${code}: ${detail})` };
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return { code, message: `${certificate} is not issued for the host its url names (${code}: ${detail})` };
  }
  const ours = `this orchestrator's client certificate (${tls?.certFrom ?? 'none given'})`;
  const refused = CLIENT_REFUSED[code];
  if (refused !== undefined) {
    return { code, message: `${drone.id} (${drone.url}) refused the TLS handshake (${code}): it ${refused(ours)}` };
  }
  if (code === 'EPROTO' && /wrong version number/i.test(detail)) {
    return {
      code: 'ERR_SSL_WRONG_VERSION_NUMBER',
      message: `${drone.id} (${drone.url}) does not speak TLS on that port (ERR_SSL_WRONG_VERSION_NUMBER)`,
    };
  }
  if (code === 'EPROTO' && /alert handshake failure/i.test(detail)) {
    return {
      code: 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE',
      message: `${drone.id} (${drone.url}) refused the TLS handshake (alert handshake failure): it may require a client certificate, and ${ours} may not do`,
    };
  }
  return undefined;
}

/**
 * A drone that hung up on every try, in or right after a TLS handshake in which we presented our client
 * certificate (TlsHangUpError): Node's TLS server refuses a certificate that does not verify in just
 * this way, without an alert.
 */
export function tlsHangUp(drone: Drone, tls: DroneTls): TlsFailure {
  return {
    code: TLS_HANG_UP_CODE,
    message: `${drone.id} (${drone.url}) closed the connection without a word during or right after the TLS handshake, in which this orchestrator presented its client certificate (${tls.certFrom ?? 'given'}): it most likely refuses that certificate`,
  };
}

/** What to check for a TLS failure's code (a `refused` failure with TLS_REFUSED_STATUS). */
export function tlsCheck(code: string): string {
  if (UNTRUSTED.has(code)) return CHECK_CA;
  return CHECKS[code] ?? (CLIENT_REFUSED[code] === undefined ? CHECK_CA : CHECK_CLIENT);
}
