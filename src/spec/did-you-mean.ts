/** The known key closest to an unknown one, when it is close enough to be a typo. */
export function closestKey(unknown: string, known: readonly string[]): string | undefined {
  // Longer keys tolerate more typos; a short key one edit away from everything would suggest nonsense.
  const limit = unknown.length <= 3 ? 1 : unknown.length <= 8 ? 2 : 3;
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    // The distance is at least the difference in length: most unknown keys need no table at all.
    if (Math.abs(candidate.length - unknown.length) > limit) continue;
    const distance = editDistance(unknown.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  if (best !== undefined && bestDistance <= limit) return best;
  // `maxIncrease` is far from `max_increase` in edits but is the same words.
  return known.find((candidate) => squash(candidate) === squash(unknown));
}

/** `maxIncrease`, `max-increase`, `MAX_INCREASE` all squash to `maxincrease`. */
function squash(key: string): string {
  return key.toLowerCase().replace(/[^a-z0-9]/g, '');
}

/** Levenshtein distance, one row at a time. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}
