import { describe, expect, it } from 'vitest';
import { VersionRefs } from '../../src/infra/version-refs.js';

describe('VersionRefs', () => {
  it('gives one frozen object per version and sha256, whatever object they were read from', () => {
    const refs = new VersionRefs();
    const first = refs.refOf({ version: 'v43', sha256: 'b'.repeat(64) });
    expect(first).toEqual({ version: 'v43', sha256: 'b'.repeat(64) });
    expect(Object.isFrozen(first)).toBe(true);
    expect(refs.ref('v43', 'b'.repeat(64))).toBe(first);
    expect(refs.ref('v43', 'c'.repeat(64))).not.toBe(first);
    expect(refs.ref('v44', 'b'.repeat(64))).not.toBe(first);
    expect(refs.refOf(null)).toBeNull();
  });
});
