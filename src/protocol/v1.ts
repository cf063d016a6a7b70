import { z } from 'zod';

/**
 * The drone protocol v1, defined once for both sides: paths, the bodies of requests and answers, and
 * how HOT reads on the wire. The agent answers the `*AnswerSchema` shapes; the orchestrator reads them
 * with the `*BodySchema`s, which let older agents leave out the members they predate.
 */

export const PATHS = {
  health: '/v1/health',
  pause: '/v1/pause',
  resume: '/v1/resume',
  telemetry: '/v1/telemetry',
  locks: '/v1/locks',
} as const;
export const CONFIGS_PREFIX = '/v1/configs/';
export const ROLLBACK_SUFFIX = '/rollback';
export const CONFIRM_SUFFIX = '/confirm';

export const configPath = (file: string): string => `${CONFIGS_PREFIX}${encodeURIComponent(file)}`;
export const rollbackPath = (file: string): string => `${configPath(file)}${ROLLBACK_SUFFIX}`;
export const confirmPath = (file: string): string => `${configPath(file)}${CONFIRM_SUFFIX}`;
export const telemetryPath = (since: number): string => `${PATHS.telemetry}?since=${since}`;

// Requests. Unknown members are ignored, so clients may add fields.

const rollout = z.string().min(1).max(256);
/** A lock store's fences start at 1; 0 would say no lock was taken at all. */
const requestFence = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);

const sha256 = z.string().regex(/^[0-9a-fA-F]{64}$/u);
/** The longest hold a pause may ask for: a day, like the spec's longest duration. */
export const MAX_HOLD_MS = 24 * 60 * 60 * 1000;
/** The longest trial a push may ask for: a day, like a pause hold. */
export const MAX_TRIAL_MS = MAX_HOLD_MS;

/**
 * A push's Ed25519 signature (push-signature.ts): `keyId`, the first 16 hex digits of the sha256 of the
 * signer's public key (SPKI DER); `sig`, base64, over the canonical message of the push's file, version,
 * sha256, rollout and fence. Only its shape is checked here: an agent with trusted keys checks the rest
 * (403 `bad_signature`), an agent without any ignores it.
 */
export const pushSignatureSchema = z.object({
  keyId: z.string().min(1).max(64),
  sig: z.string().min(1).max(256),
});
export type PushSignature = z.infer<typeof pushSignatureSchema>;

/**
 * `trialMs`: the push is a trial, which the drone reverts by itself (to the version the push replaced)
 * unless the rollout confirms it within this long; without it, the push stays until rolled back.
 * `signature`: when the rollout's spec signs its config (`config.sign`).
 */
export const pushRequestSchema = z.object({
  rollout,
  version: z.string().min(1).max(256),
  sha256,
  fence: requestFence,
  content: z.string(),
  trialMs: z.number().int().positive().max(MAX_TRIAL_MS).optional(),
  signature: pushSignatureSchema.optional(),
});
export const rollbackRequestSchema = z.object({ rollout, fence: requestFence });
/** Keeps the config of `sha256` that this rollout pushed on trial: it no longer reverts by itself. */
export const confirmRequestSchema = z.object({ rollout, fence: requestFence, sha256 });
/**
 * `holdMs`: the hold lapses unless renewed (by pausing again) within this long; without it, the hold
 * lasts until the rollout resumes the drone.
 */
export const pauseRequestSchema = z.object({
  rollout,
  holdMs: z.number().int().positive().max(MAX_HOLD_MS).optional(),
});
export const resumeRequestSchema = z.object({ rollout, all: z.boolean().optional() });

export type PushRequest = z.infer<typeof pushRequestSchema>;
export type RollbackRequest = z.infer<typeof rollbackRequestSchema>;
export type ConfirmRequest = z.infer<typeof confirmRequestSchema>;
export type PauseRequest = z.infer<typeof pauseRequestSchema>;
export type ResumeRequest = z.infer<typeof resumeRequestSchema>;

// Answers.

/** Fences are safe integers a store can still go above; 0 when the drone has accepted none. */
const answerFence = z
  .number()
  .int()
  .nonnegative()
  .max(Number.MAX_SAFE_INTEGER - 1);
/** The first telemetry sample taken under the config an answer names. */
const seq = z.number().int().nonnegative();

export const droneStateSchema = z.enum(['active', 'paused']);
export type DroneState = z.infer<typeof droneStateSchema>;
/** How a drone checks who may call it; `none`: anyone who reaches the drone may write to it. */
export const authModeSchema = z.enum(['none', 'bearer']);
export type AuthMode = z.infer<typeof authModeSchema>;

export const versionRefSchema = z.object({ version: z.string(), sha256: z.string() });
export type VersionRef = z.infer<typeof versionRefSchema>;

/** A config on trial: whose, and how long until the drone reverts it by itself (0: due, reverting). */
export const trialStateSchema = z.object({ rollout: z.string(), expiresInMs: z.number().nonnegative() });
export type TrialState = z.infer<typeof trialStateSchema>;
/**
 * The trial the drone reverted by itself (its version, not the one it went back to), whose it was, and
 * when: `at` is the drone's clock (epoch ms). Reported until the config next changes.
 */
export const revertedTrialSchema = versionRefSchema.extend({ rollout: z.string(), at: z.number() });
export type RevertedTrial = z.infer<typeof revertedTrialSchema>;

/**
 * `lock` is HOT while another live owner holds the drone's local lock on the file. `trial` while the
 * config is on trial, `reverted` once the drone reverted a trial by itself; agents that predate trials
 * send neither.
 */
export const configStateSchema = versionRefSchema.extend({
  lock: z.enum(['free', 'HOT']),
  fence: answerFence,
  trial: trialStateSchema.optional(),
  reverted: revertedTrialSchema.optional(),
});
export type ConfigState = z.infer<typeof configStateSchema>;
const configs = z.record(z.string(), configStateSchema);

/**
 * What an agent can do beyond the first protocol: `pause_hold`, pause holds that lapse; `trial_config`,
 * pushes on trial (`trialMs`) and their confirm; `operational_state`, the vehicle's operational state in
 * health and pause answers (only an agent told where to read it has it); `signed_config`, it refuses a
 * push not signed by a key it trusts (only an agent given trusted keys has it; see push-signature.ts). An agent that predates the list
 * sends none.
 */
export const AGENT_FEATURES = ['pause_hold', 'trial_config', 'operational_state', 'signed_config'] as const;
export type AgentFeature = (typeof AGENT_FEATURES)[number];
/** The longest mission id an operational state may carry. */
export const MAX_MISSION_LENGTH = 256;

/**
 * What the vehicle is doing, as its own software reports it: whether it flies, its battery in percent,
 * and the mission it is on (null: none). A rollout's `gates.push_when` is evaluated over it.
 */
export const operationalSchema = z.strictObject({
  flight: z.enum(['grounded', 'airborne']),
  battery: z.number().min(0).max(100),
  mission: z.string().min(1).max(MAX_MISSION_LENGTH).nullable(),
});
export type Operational = z.infer<typeof operationalSchema>;
/**
 * The operational state in an answer, or why the agent cannot tell it (its source is missing, stale or
 * malformed): a gate never passes a drone whose state is unknown.
 */
export const operationalViewSchema = z.union([operationalSchema, z.strictObject({ error: z.string() })]);
export type OperationalView = z.infer<typeof operationalViewSchema>;

/** Who holds the drone paused, and for how long yet (null: until resumed). */
const holds = z.array(z.object({ rollout: z.string(), expiresInMs: z.number().nonnegative().nullable() }));
/** Holds that lapsed unrenewed, newest last: `at` is the drone's clock (epoch ms). */
const lapsed = z.array(z.object({ rollout: z.string(), at: z.number() }));

/** `operational` only from an agent with the `operational_state` feature. */
export const healthAnswerSchema = z.object({
  id: z.string(),
  state: droneStateSchema,
  configs,
  auth: authModeSchema,
  features: z.array(z.string()),
  holds,
  lapsed,
  operational: operationalViewSchema.optional(),
});
export type HealthAnswer = z.infer<typeof healthAnswerSchema>;
/**
 * The orchestrator reads `operational` as it comes and checks it where a gate needs it: an agent that
 * reports a state this orchestrator does not know (a newer flight mode, more members) must not fail the
 * health and pause answers of rollouts that have no gate.
 */
const operationalAsSent = z.unknown().optional();
export const healthBodySchema = healthAnswerSchema
  .partial({ auth: true, features: true, holds: true, lapsed: true })
  .extend({ operational: operationalAsSent });
export type HealthBody = z.infer<typeof healthBodySchema>;

/** Pause answers this; resume answers its `state` alone. */
export const pauseAnswerSchema = z.object({
  state: droneStateSchema,
  configs,
  holds,
  lapsed,
  operational: operationalViewSchema.optional(),
});
export type PauseAnswer = z.infer<typeof pauseAnswerSchema>;
export type ResumeAnswer = Pick<PauseAnswer, 'state'>;
/** Reads the answers of both pause and resume. */
export const pauseBodySchema = pauseAnswerSchema
  .partial({ configs: true, holds: true, lapsed: true })
  .extend({ operational: operationalAsSent });
export type PauseBody = z.infer<typeof pauseBodySchema>;

/** `trial` when the config is on trial: an agent that predates trials ignores `trialMs` and sends none. */
export const pushAnswerSchema = versionRefSchema.extend({
  previous: versionRefSchema.nullable(),
  seq,
  trial: trialStateSchema.optional(),
});
export type PushAnswer = z.infer<typeof pushAnswerSchema>;
export const pushBodySchema = pushAnswerSchema.partial({ seq: true });
export type PushBody = z.infer<typeof pushBodySchema>;

/** The config the drone keeps, no longer on trial. Only agents with `trial_config` answer a confirm. */
export const confirmAnswerSchema = versionRefSchema.extend({ confirmed: z.literal(true) });
export type ConfirmAnswer = z.infer<typeof confirmAnswerSchema>;
export const confirmBodySchema = confirmAnswerSchema;
export type ConfirmBody = z.infer<typeof confirmBodySchema>;

/** A rollback that leaves no file (the push had created it) answers null for both. */
export const rollbackAnswerSchema = z.object({
  version: z.string().nullable(),
  sha256: z.string().nullable(),
  restored: z.boolean(),
  seq,
});
export type RollbackAnswer = z.infer<typeof rollbackAnswerSchema>;
export const rollbackBodySchema = rollbackAnswerSchema.partial({ restored: true, seq: true });
export type RollbackBody = z.infer<typeof rollbackBodySchema>;

const sampleSchema = z.object({ seq, t: z.number(), metrics: z.record(z.string(), z.number()) });
export type TelemetrySample = z.infer<typeof sampleSchema>;

/** `now`: the drone's clock when it answered, the clock that stamps each sample's `t` (epoch ms). */
export const telemetryAnswerSchema = z.object({
  samples: z.array(sampleSchema),
  next: z.number().int().nonnegative(),
  now: z.number(),
  state: droneStateSchema,
  configs,
});
export type TelemetryAnswer = z.infer<typeof telemetryAnswerSchema>;
/** The orchestrator does not read `state` here. */
export const telemetryBodySchema = telemetryAnswerSchema.omit({ state: true }).partial({ configs: true, now: true });
export type TelemetryBody = z.infer<typeof telemetryBodySchema>;

export const lockOwnerSchema = z.object({ pid: z.number().int(), host: z.string(), rollout: z.string() });
export type LockOwner = z.infer<typeof lockOwnerSchema>;
export const lockViewSchema = z.object({
  file: z.string(),
  owner: lockOwnerSchema,
  fence: answerFence,
  acquired: z.string(),
  heartbeat: z.string(),
  state: z.enum(['held', 'stale']),
  reason: z.string().optional(),
});
export type LockView = z.infer<typeof lockViewSchema>;
/** `fences`: the highest fence the drone has accepted, per config file. */
export const locksAnswerSchema = z.object({
  locks: z.array(lockViewSchema),
  fences: z.record(z.string(), answerFence),
});
export type LocksAnswer = z.infer<typeof locksAnswerSchema>;

// HOT, as either side tells it.

/** The file is HOT in a drone's `configs` (health, pause or telemetry). */
export function isHot(configs: Readonly<Record<string, ConfigState>> | undefined, file: string): boolean {
  return configs?.[file]?.lock === 'HOT';
}

/** The contract's HOT 409: `{"error":"lock_mismatch","lock":"HOT",...}`. */
export function isHotAnswer(status: number, body: unknown): boolean {
  if (status !== 409 || typeof body !== 'object' || body === null) return false;
  const { error, lock } = body as { error?: unknown; lock?: unknown };
  return error === 'lock_mismatch' && lock === 'HOT';
}
