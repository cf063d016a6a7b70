/*
 * How much input validation reads. Every limit is checked before parsing, so a CI job validating other
 * people's specs ends in bounded time and memory whatever it is handed.
 */

const MiB = 1024 * 1024;

/** A spec is a few KiB; 1 MiB holds tens of thousands of lines. */
export const MAX_SPEC_BYTES = 1 * MiB;

/**
 * An inventory in JSON as `rollout fleet sim --inventory-out` writes it takes about 108 bytes a drone
 * (10.8 MB for 100,000 drones); 64 MiB leaves room for long URLs and many labels.
 */
export const MAX_INVENTORY_BYTES = 64 * MiB;

/**
 * The YAML document parser takes about a second and 100 MB per MiB, so an inventory that is not JSON
 * is held to 4 MiB (about 40,000 drones); larger fleets are written as JSON, which is parsed natively.
 */
export const MAX_YAML_INVENTORY_BYTES = 4 * MiB;

/**
 * The largest request body a drone agent accepts. A push carries the config as a JSON string, so a
 * config must fit in it once escaped, with the push's other fields.
 */
export const MAX_PUSH_BODY_BYTES = 1 * MiB;

/** Nesting deeper than this is refused before the (recursive) YAML composer sees it; a spec is 5 deep. */
export const MAX_NESTING_DEPTH = 64;

/** Issues listed in one error; the rest are counted, so a file of 50,000 mistakes prints 51 lines. */
export const MAX_REPORTED_ISSUES = 50;

/** `1,048,576 bytes (1 MiB)`, `52,428,800 bytes (50 MiB)`, `812 bytes`. */
export function formatBytes(bytes: number): string {
  const exact = `${bytes.toLocaleString('en-US')} bytes`;
  if (bytes < MiB) return exact;
  const mib = bytes / MiB;
  return `${exact} (${Number.isInteger(mib) ? mib : mib.toFixed(1)} MiB)`;
}
