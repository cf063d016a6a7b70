import { droneUrlProblem } from '../spec/drone-url.js';
import type { Origin } from './json-request.js';

/** Where one drone's requests go: its origin's node:http options, shared, and its base path. */
export interface DroneTarget {
  readonly origin: Origin;
  /** The base URL's path without a trailing slash ('' or '/d/drone-7'): request paths are appended to it. */
  readonly basePath: string;
}

/**
 * A base URL in its plain form: scheme and authority (no space or control character, which a parse of
 * the origin alone would trim), then a path of letters, digits and `-._~` with no `.` or `..` segment.
 * Such a path reads the same after WHATWG URL parsing, so it is used as written.
 */
// eslint-disable-next-line no-control-regex -- control characters are what the authority must not hold
const PLAIN_URL = /^(https?:\/\/[^\x00-\x20/?#\\]*)((?:\/[\w.~-]*)*)$/i;
const DOT_SEGMENT = /\/\.\.?(?:\/|$)/;
const TRAILING_SLASHES = /\/+$/;

/**
 * Drones' base URLs taken apart for node:http, without keeping anything per drone: a URL in its plain form
 * (every drone of the simulator, and any inventory of `http://host:port` or `http://host:port/d/<id>`) is
 * split where it stands, and only its scheme, host and port are parsed, once per origin. At 100,000 drones
 * a parsed target kept per drone held about 20 MB (a copy of each URL, its host name, a WeakMap entry);
 * the origins of a fleet behind one simulator hold one entry. A URL in any other form is parsed whole, once.
 */
export class DroneTargets {
  /** Per origin as written (`http://127.0.0.1:7100`): its options, or undefined when the URL is refused. */
  readonly #origins = new Map<string, Origin | undefined>();
  /** URLs not in the plain form, parsed whole: their target, or what is wrong with them. */
  readonly #others = new Map<string, DroneTarget | string>();

  /** Where requests to the drone at `url` go, or what is wrong with its URL (the inventory's own check). */
  of(url: string): DroneTarget | string {
    const plain = PLAIN_URL.exec(url);
    if (plain === null || DOT_SEGMENT.test(plain[2] ?? '')) return this.#other(url);
    const written = plain[1] ?? '';
    let origin = this.#origins.get(written);
    if (origin === undefined && !this.#origins.has(written)) {
      origin = droneUrlProblem(written) === undefined ? originOf(new URL(written)) : undefined;
      this.#origins.set(written, origin);
    }
    // What is wrong is told of the whole URL, as the inventory has it.
    if (origin === undefined) return this.#other(url);
    return { origin, basePath: (plain[2] ?? '').replace(TRAILING_SLASHES, '') };
  }

  #other(url: string): DroneTarget | string {
    let target = this.#others.get(url);
    if (target === undefined) {
      target = droneUrlProblem(url) ?? parsedTarget(url);
      this.#others.set(url, target);
    }
    return target;
  }
}

/** The target of `url`, parsed whole: a drone URL the inventory accepts. */
export function parsedTarget(url: string): DroneTarget {
  const parsed = new URL(url);
  return { origin: originOf(parsed), basePath: parsed.pathname.replace(TRAILING_SLASHES, '') };
}

function originOf(url: URL): Origin {
  const { hostname } = url;
  return {
    https: url.protocol === 'https:',
    hostname: hostname.startsWith('[') ? hostname.slice(1, -1) : hostname,
    port: url.port === '' ? undefined : Number(url.port),
  };
}
