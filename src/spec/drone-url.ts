import { redactUrl } from '../infra/redact.js';
import { describeValue } from './describe-value.js';

/**
 * Why a drone URL is refused, or undefined when it is fine. A URL carrying a user or password would put
 * a secret in the inventory, in `plan`'s output and in logs; the agents' token comes from --token-file.
 */
export function droneUrlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `must be an http:// or https:// URL, got ${describeUrl(text)}`;
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.host === '') {
    return `must be an http:// or https:// URL, got ${describeUrl(text)}`;
  }
  if (url.username !== '' || url.password !== '') {
    const got = describeUrl(text);
    return `must not carry a user or password, got ${got}; give the agents' token with --token-file instead`;
  }
  if (url.search !== '' || url.hash !== '') {
    return `must be the agent's base URL, without a query or fragment, got ${describeUrl(text)}`;
  }
  return undefined;
}

/** How a URL reads in an error message: quoted, with any password (or lone user name, often a token) as `***`. */
export function describeUrl(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(redactUrl(value)) : describeValue(value);
}
