import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DroneTargets, parsedTarget } from '../../src/fleet/drone-targets.js';
import { droneUrlProblem } from '../../src/spec/drone-url.js';

describe('DroneTargets', () => {
  it("takes a drone's base URL apart into node:http's options and a base path", () => {
    const targets = new DroneTargets();
    expect(targets.of('http://127.0.0.1:7100/d/drone-7')).toEqual({
      origin: { https: false, hostname: '127.0.0.1', port: 7100 },
      basePath: '/d/drone-7',
    });
    expect(targets.of('https://drone.example/')).toEqual({
      origin: { https: true, hostname: 'drone.example', port: undefined },
      basePath: '',
    });
    expect(targets.of('HTTP://[::1]:80/a%20b/')).toEqual({
      origin: { https: false, hostname: '::1', port: undefined },
      basePath: '/a%20b',
    });
    expect(targets.of('http://Drone.Example:7101/x/../d/./drone-1//')).toEqual({
      origin: { https: false, hostname: 'drone.example', port: 7101 },
      basePath: '/d/drone-1',
    });
  });

  it('shares one origin among the drones behind it: nothing parsed is kept per drone', () => {
    const targets = new DroneTargets();
    const first = targets.of('http://127.0.0.1:7100/d/drone-1');
    const second = targets.of('http://127.0.0.1:7100/d/drone-2');
    expect(typeof first === 'string' || typeof second === 'string').toBe(false);
    if (typeof first === 'string' || typeof second === 'string') return;
    expect(second.origin).toBe(first.origin);
    expect(second.basePath).toBe('/d/drone-2');
  });

  it("answers what is wrong with a refused URL, quoting the whole URL as the inventory's check does", () => {
    const targets = new DroneTargets();
    for (const url of [
      'http://user:secret@127.0.0.1:7100/d/drone-1',
      'ftp://127.0.0.1/d/drone-9',
      'http://127.0.0.1:7100/d/drone-1?x=1',
      'http://127.0.0.1:99999/d/drone-1',
      'not a url',
    ]) {
      const problem = droneUrlProblem(url);
      expect(problem).toBeDefined();
      expect(targets.of(url)).toBe(problem);
      // A second drone behind the same refused origin is told of its own URL.
      const other = url.replace('drone-1', 'drone-2');
      expect(targets.of(other)).toBe(droneUrlProblem(other));
    }
  });

  it('reads every URL as a whole WHATWG parse does, whichever way it takes', () => {
    const segment = fc.oneof(
      fc.constantFrom('.', '..', '', 'd', 'drone-7', '%2e', '%2E%2e', 'a b', 'é', 'x\\y', '~_-.', 'a?b', 'c#d', ':@'),
      fc.stringMatching(/^[\w.~%-]{0,6}$/),
    );
    const url = fc
      .tuple(
        fc.constantFrom('http://', 'https://', 'HTTP://', 'Https://', 'ftp://', 'http:/', ' http://'),
        fc.constantFrom(
          '127.0.0.1',
          'Drone.Example',
          '[::1]',
          'u:p@host',
          'host',
          '',
          '10.0.0.7',
          'h\u0000',
          'h\u0001',
        ),
        // A space or control character that a parse of the origin alone would trim.
        fc.constantFrom('', ':7100', ':80', ':443', ':0', ':99999', ':', ' ', ':7100\f', '\t', '\n'),
        fc.array(segment, { maxLength: 5 }),
        fc.constantFrom('', '/', '//'),
      )
      .map(([scheme, host, port, segments, tail]) =>
        [scheme, host, port, ...segments.map((part) => `/${part}`), tail].join(''),
      );
    fc.assert(
      fc.property(fc.array(url, { minLength: 1, maxLength: 4 }), (urls) => {
        const targets = new DroneTargets();
        for (const each of urls) {
          const problem = droneUrlProblem(each);
          expect(targets.of(each)).toEqual(problem ?? parsedTarget(each));
        }
      }),
      { numRuns: 2_000 },
    );
  });
});
