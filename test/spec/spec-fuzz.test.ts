import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPlan, SpecError } from '../../src/spec/index.js';
import { copyRollouts, FUZZ_SEED, mutatedSpec } from './spec-mutations.js';

let dir: string;
let texts: Record<string, string>;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'spec-fuzz-'));
  texts = await copyRollouts(dir);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/**
 * What `validate` does with a spec (it calls loadPlan): either a plan, or a SpecError whose every issue
 * names a file, a line and a column. Any other exception is a crash a user would see as a stack trace.
 */
describe('mutated shipped specs', () => {
  it('validate or fail with positioned issues, never another exception', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(mutatedSpec(texts), async ({ text }) => {
        const path = join(dir, `mutated-${(run += 1)}.yaml`);
        await writeFile(path, text);
        try {
          await loadPlan(path);
        } catch (error) {
          if (!(error instanceof SpecError)) throw error;
          expect(error.issues.length).toBeGreaterThan(0);
          for (const issue of error.issues) {
            expect(issue.file).not.toBe('');
            expect(issue.line).toBeGreaterThanOrEqual(1);
            expect(issue.column).toBeGreaterThanOrEqual(1);
            expect(typeof issue.key).toBe('string');
            expect(issue.message).not.toBe('');
          }
        } finally {
          await rm(path, { force: true });
        }
      }),
      { seed: FUZZ_SEED, numRuns: 2_000 },
    );
  });
});
