import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/errors.js';

describe('the error registry', () => {
  it('is exactly the docs/errors.md error table: every code, with its meaning, and nothing extra', async () => {
    const doc = await readFile(join(import.meta.dirname, '..', '..', 'docs', 'errors.md'), 'utf8');
    expect(doc).toMatch(/^## Error codes$/m);
    const rows = [...doc.matchAll(/^\| `(E_[A-Z_]+)` \| (.+) \|$/gm)].map((m) => [m[1], m[2]]);
    expect(Object.fromEntries(rows)).toEqual(ERROR_CODES);
    expect(rows).toHaveLength(Object.keys(ERROR_CODES).length);
  });
});
