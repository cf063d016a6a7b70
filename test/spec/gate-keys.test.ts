import { describe, expect, it } from 'vitest';
import { validateSpecText } from '../../src/spec/validate-spec.js';
import { SPEC_FILE, specErrors, specText } from '../helpers/spec.js';

function withGates(gates: string) {
  return specText({ canary: 'canary: { drones: 1 }', rest: gates });
}

describe('gates', () => {
  it('are absent by default, and take their defaults when given', () => {
    expect(validateSpecText(withGates(''), SPEC_FILE, '/base')).not.toHaveProperty('gates');
    expect(
      validateSpecText(withGates(`gates: { push_when: 'flight == "grounded"' }`), SPEC_FILE, '/base').gates,
    ).toEqual({ pushWhen: 'flight == "grounded"', waitMs: 600_000, recheckMs: 5_000, onTimeout: 'skip' });
    expect(
      validateSpecText(
        withGates(`gates: { push_when: 'battery >= 30.0', wait: 2m, recheck: 1s, on_timeout: rollback }`),
        SPEC_FILE,
        '/base',
      ).gates,
    ).toEqual({ pushWhen: 'battery >= 30.0', waitMs: 120_000, recheckMs: 1_000, onTimeout: 'rollback' });
  });

  it('reject an expression that does not compile, naming its line and key', () => {
    const errors = specErrors(withGates(['gates:', '  push_when: \'flight == "grounded" &&\''].join('\n')));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^rollouts\/x\.yaml:6:14 gates\.push_when: does not compile: /);
  });

  it('reject an unknown variable and a value that is no condition', () => {
    expect(specErrors(withGates(`gates: { push_when: 'altitude < 10' }`))).toEqual([
      'rollouts/x.yaml:5:21 gates.push_when: does not compile: Unknown variable: altitude (the variables are flight, battery, mission, id, labels)',
    ]);
    expect(specErrors(withGates(`gates: { push_when: 'battery' }`))).toEqual([
      'rollouts/x.yaml:5:21 gates.push_when: must be a condition (a bool), but it is a double',
    ]);
  });

  it('reject an unknown on_timeout', () => {
    expect(specErrors(withGates(`gates: { push_when: 'true', on_timeout: wait }`))).toEqual([
      expect.stringMatching(/^rollouts\/x\.yaml:5:41 gates\.on_timeout: must be skip or rollback/),
    ]);
  });
});
