import { readFileSync } from 'node:fs';
import { hostname, uptime } from 'node:os';

/** Who "this host" is for lock ownership: a lease taken under another boot id is stale. */
export interface HostIdentity {
  readonly host: string;
  readonly bootId: string;
}

const BOOT_ID_FILE = '/proc/sys/kernel/random/boot_id';

/** Boot time is rounded to this much so that two processes of one boot compute the same id. */
const FALLBACK_BOOT_ROUNDING_MS = 60_000;

/**
 * The host name and the kernel's boot id.
 *
 * Where `/proc/sys/kernel/random/boot_id` does not exist (macOS, Windows), the boot id is the boot time
 * (`Date.now() - os.uptime()`) rounded down to the minute, prefixed `uptime:`. It is weaker than the
 * kernel's: a wall-clock step of a minute or more, or two processes computing it on either side of a
 * minute boundary, makes a live lease of this host look `rebooted`. Fences still protect the drones then.
 */
export function hostIdentity(): HostIdentity {
  return { host: hostname(), bootId: readBootId() };
}

function readBootId(): string {
  try {
    const id = readFileSync(BOOT_ID_FILE, 'utf8').trim();
    if (id !== '') {
      return id;
    }
  } catch {
    // Not Linux, or /proc is not mounted: fall through to the boot time.
  }
  const bootTime = Date.now() - uptime() * 1000;
  return `uptime:${Math.floor(bootTime / FALLBACK_BOOT_ROUNDING_MS) * FALLBACK_BOOT_ROUNDING_MS}`;
}
