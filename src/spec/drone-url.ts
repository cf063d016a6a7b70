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
  return undefined;
}

/** How a URL reads in an error message: quoted, with any password (or lone user name, often a token) as `***`. */
export function describeUrl(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(redactUrl(value)) : describeValue(value);
}

const SCHEME = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/*/;

/** `http://op:hunter2@h/d` → `http://op:***@h/d`; `https://tok@h` → `https://***@h`. */
export function redactUrl(text: string): string {
  const start = SCHEME.exec(text)?.[0].length ?? 0;
  const rest = text.slice(start);
  const authorityEnd = rest.search(/[/?#\\]/);
  const authority = authorityEnd === -1 ? rest : rest.slice(0, authorityEnd);
  const at = authority.lastIndexOf('@');
  if (at === -1) return text;
  const userInfo = authority.slice(0, at);
  const colon = userInfo.indexOf(':');
  const hidden = colon === -1 ? '***' : `${userInfo.slice(0, colon)}:***`;
  return `${text.slice(0, start)}${hidden}${rest.slice(at)}`;
}
