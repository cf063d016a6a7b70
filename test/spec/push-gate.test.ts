import { describe, expect, it } from 'vitest';
import { compilePushGate, MAX_PUSH_WHEN_LENGTH, pushWhenProblem } from '../../src/spec/push-gate.js';

const ISSUE_GATE = 'flight == "grounded" && battery >= 30 && mission == null';
const grounded = { flight: 'grounded', battery: 80, mission: null } as const;

describe('push gate (gates.push_when)', () => {
  it('passes a grounded, charged drone with no mission and holds back the others, saying what they do', () => {
    const gate = compilePushGate(ISSUE_GATE);
    const drone = { id: 'drone-1', labels: {} };
    expect(gate.check({ ...drone, operational: grounded })).toEqual({ pass: true });
    expect(gate.check({ ...drone, operational: { ...grounded, flight: 'airborne' } })).toEqual({
      pass: false,
      reason: 'airborne, battery 80%, no mission',
    });
    expect(gate.check({ ...drone, operational: { ...grounded, battery: 29.5 } })).toMatchObject({ pass: false });
    expect(gate.check({ ...drone, operational: { ...grounded, mission: 'survey-7' } })).toEqual({
      pass: false,
      reason: 'grounded, battery 80%, mission survey-7',
    });
  });

  it('never passes a drone whose state is unknown or missing: it fails closed', () => {
    const gate = compilePushGate('battery >= 0.0');
    expect(gate.check({ id: 'd', labels: {}, operational: undefined })).toEqual({
      pass: false,
      reason: 'its agent reports no operational state (it lacks operational_state)',
    });
    expect(gate.check({ id: 'd', labels: {}, operational: { error: 'operational file /x missing' } })).toEqual({
      pass: false,
      reason: 'its operational state is unknown: operational file /x missing',
    });
  });

  it('sees the drone id and labels, and holds back a drone the expression fails on', () => {
    const gate = compilePushGate('labels.site == "north" || id == "drone-9"');
    expect(gate.check({ id: 'drone-1', labels: { site: 'north' }, operational: grounded }).pass).toBe(true);
    expect(gate.check({ id: 'drone-9', labels: { site: 'south' }, operational: grounded }).pass).toBe(true);
    const missing = gate.check({ id: 'drone-2', labels: {}, operational: grounded });
    expect(missing.pass).toBe(false);
    expect(missing.pass ? '' : missing.reason).toMatch(/^push_when failed on it: /);
  });

  it('names what is wrong with an expression that cannot be a gate', () => {
    expect(pushWhenProblem(ISSUE_GATE)).toBeUndefined();
    expect(pushWhenProblem('battery > 2 +')).toMatch(/^does not compile: Unexpected token/);
    expect(pushWhenProblem('altitude < 10')).toBe(
      'does not compile: Unknown variable: altitude (the variables are flight, battery, mission, id, labels)',
    );
    expect(pushWhenProblem('flight == 3')).toMatch(/^does not compile: no such overload: string == int/);
    expect(pushWhenProblem('battery')).toBe('must be a condition (a bool), but it is a double');
    expect(pushWhenProblem('true || '.repeat(200) + 'true')).toMatch(/the limit is 1000$/);
    expect(() => compilePushGate('battery')).toThrow(/gates.push_when must be a condition/);
    expect(MAX_PUSH_WHEN_LENGTH).toBe(1000);
  });
});
