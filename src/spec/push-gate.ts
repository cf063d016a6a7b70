import { Environment } from '@marcbachmann/cel-js';
import type { Labels } from './types.js';
import { operationalViewSchema, type Operational } from '../protocol/v1.js';

/*
 * `gates.push_when`: a CEL expression over one drone's operational state, evaluated by cel-js (a
 * well-kept CEL implementation) before each push to that drone. A drone is pushed only when it
 * evaluates to true; a state the drone cannot tell, or an expression that fails on it, holds it back.
 */

/** The longest expression a spec may hold: CEL is cheap, but a spec is bounded input. */
export const MAX_PUSH_WHEN_LENGTH = 1000;

/** The variables `push_when` may use, with their CEL types, as the docs and errors list them. */
export const PUSH_WHEN_VARIABLES = {
  flight: 'string',
  battery: 'double',
  mission: 'dyn',
  id: 'string',
  labels: 'map<string, string>',
} as const;

const environment = Object.entries(PUSH_WHEN_VARIABLES).reduce(
  (env, [name, type]) => env.registerVariable(name, type),
  new Environment({ limits: { maxAstNodes: 500, maxDepth: 32, maxListElements: 100, maxMapEntries: 100 } }),
);

/** One drone as the gate sees it. */
export interface GateSubject {
  readonly id: string;
  readonly labels: Labels;
  /**
   * As the drone sent it (checked here against the protocol); absent: its agent reports no operational
   * state (it predates `operational_state`, or was started without a source).
   */
  readonly operational: unknown;
}

export type GateAnswer = { readonly pass: true } | { readonly pass: false; readonly reason: string };

export interface PushGate {
  /** The expression as written in the spec. */
  readonly source: string;
  check(subject: GateSubject): GateAnswer;
}

/** The first line of a cel-js error: the rest is a caret drawing of the expression. */
function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n', 1)[0]?.trim() ?? message;
}

/**
 * Why `source` cannot be a push gate (it does not parse, names an unknown variable, mixes types, or is
 * not a bool), or undefined when it can.
 */
export function pushWhenProblem(source: string): string | undefined {
  if (source.length > MAX_PUSH_WHEN_LENGTH)
    return `is ${source.length} characters long; the limit is ${MAX_PUSH_WHEN_LENGTH}`;
  let type: string | undefined;
  try {
    const checked = environment.check(source);
    if (!checked.valid) return `does not compile: ${firstLine(checked.error)}${variablesHint(checked.error)}`;
    type = checked.type;
  } catch (error) {
    return `does not compile: ${firstLine(error)}`;
  }
  return type === 'bool' ? undefined : `must be a condition (a bool), but it is a ${type ?? 'value of unknown type'}`;
}

function variablesHint(error: unknown): string {
  return firstLine(error).startsWith('Unknown variable')
    ? ` (the variables are ${Object.keys(PUSH_WHEN_VARIABLES).join(', ')})`
    : '';
}

/** Compiles a push gate; call it on expressions `pushWhenProblem` has passed (the spec's schema has). */
export function compilePushGate(source: string): PushGate {
  const problem = pushWhenProblem(source);
  if (problem !== undefined) throw new TypeError(`gates.push_when ${problem}`);
  const evaluate = environment.parse(source);
  return {
    source,
    check: ({ id, labels, operational: sent }) => {
      if (sent === undefined)
        return { pass: false, reason: 'its agent reports no operational state (it lacks operational_state)' };
      const parsed = operationalViewSchema.safeParse(sent);
      if (!parsed.success)
        return {
          pass: false,
          reason: `its operational state is not one this orchestrator knows (${describeIssue(parsed.error.issues[0])}): update fleet-rollout or the agent`,
        };
      const operational = parsed.data;
      if ('error' in operational)
        return { pass: false, reason: `its operational state is unknown: ${operational.error}` };
      try {
        const verdict: unknown = evaluate({ ...operational, id, labels });
        return verdict === true ? { pass: true } : { pass: false, reason: describeState(operational) };
      } catch (error) {
        return { pass: false, reason: `push_when failed on it: ${firstLine(error)}` };
      }
    },
  };
}

function describeIssue(issue: { readonly path: readonly PropertyKey[]; readonly message: string } | undefined): string {
  if (issue === undefined) return 'not valid';
  return issue.path.length === 0 ? issue.message : `${issue.path.map(String).join('.')}: ${issue.message}`;
}

/** `airborne, battery 22%, mission survey-7`: what a held-back drone was doing. */
export function describeState(state: Operational): string {
  return `${state.flight}, battery ${state.battery}%, ${state.mission === null ? 'no mission' : `mission ${state.mission}`}`;
}
