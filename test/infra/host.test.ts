import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { isPidAlive } from '../../src/infra/process.js';
import { hostIdentity } from '../../src/infra/host.js';

describe('hostIdentity', () => {
  it('is this host and its kernel boot id, the same on every call', () => {
    const identity = hostIdentity();
    expect(identity.host).toBe(hostname());
    expect(identity).toEqual(hostIdentity());
    const bootIdFile = '/proc/sys/kernel/random/boot_id';
    if (existsSync(bootIdFile)) {
      expect(identity.bootId).toBe(readFileSync(bootIdFile, 'utf8').trim());
    } else {
      expect(identity.bootId).toMatch(/^uptime:\d+$/);
    }
  });
});

describe('isPidAlive', () => {
  it('is true for this process', () => {
    expect(isPidAlive(process.pid)).toBe(true);
  });

  it('is false for a process that has exited', () => {
    const { pid } = spawnSync(process.execPath, ['-e', '']);
    expect(pid).toBeGreaterThan(0);
    expect(isPidAlive(pid)).toBe(false);
  });

  it('is true for a process of another user (EPERM), such as init', () => {
    expect(isPidAlive(1)).toBe(true);
  });

  it.each([0, -1, 1.5, Number.NaN])('refuses %s, which kill(2) would read as a process group', (pid) => {
    expect(() => isPidAlive(pid)).toThrow(TypeError);
  });
});
