/** `1 drone`, `3 drones`: a count with its noun, singular or plural. */
export function count(n: number, noun: string, plural = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : plural}`;
}

/** `drone-1, drone-2`, or the first five and `and 8 more`: ids named in a reason without flooding it. */
export function listIds(ids: readonly string[]): string {
  const shown = ids.slice(0, 5).join(', ');
  return ids.length > 5 ? `${shown} and ${ids.length - 5} more` : shown;
}
