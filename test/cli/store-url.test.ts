import { describe, expect, it } from 'vitest';
import { parseStoreUrl } from '../../src/cli/store-url.js';

describe('parseStoreUrl', () => {
  it('defaults to the embedded store', () => {
    expect(parseStoreUrl(undefined)).toEqual({ kind: 'embedded' });
    expect(parseStoreUrl('')).toEqual({ kind: 'embedded' });
    expect(parseStoreUrl('embedded')).toEqual({ kind: 'embedded' });
  });

  it('reads one or many etcd endpoints', () => {
    expect(parseStoreUrl('etcd://127.0.0.1:2379')).toEqual({ kind: 'etcd', endpoints: ['127.0.0.1:2379'] });
    expect(parseStoreUrl('etcd://etcd-1:2379,etcd-2:2379, etcd-3:2379')).toEqual({
      kind: 'etcd',
      endpoints: ['etcd-1:2379', 'etcd-2:2379', 'etcd-3:2379'],
    });
  });

  it('refuses anything else, saying what it expects', () => {
    expect(() => parseStoreUrl('redis://x:1')).toThrow(
      expect.objectContaining({ code: 'E_USAGE', message: expect.stringMatching(/expected etcd:\/\/host:port/) }),
    );
    expect(() => parseStoreUrl('etcd://nohost')).toThrow(/"nohost" is not host:port/);
    expect(() => parseStoreUrl('etcd://')).toThrow(/expected etcd/);
  });

  it('never repeats a password given in the URL', () => {
    const refused = (() => {
      try {
        parseStoreUrl('etcd://root:s3cret@10.0.0.1:2379');
      } catch (error) {
        return error instanceof Error ? error.message : String(error);
      }
      return '';
    })();
    expect(refused).toContain('"root:***@10.0.0.1:2379" is not host:port (credentials in the URL are not supported)');
    expect(refused).not.toContain('s3cret');
  });
});
