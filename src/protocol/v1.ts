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

export const configPath = (file: string): string => `${CONFIGS_PREFIX}${encodeURIComponent(file)}`;
export const rollbackPath = (file: string): string => `${configPath(file)}${ROLLBACK_SUFFIX}`;
export const telemetryPath = (since: number): string => `${PATHS.telemetry}?since=${since}`;

// Requests. Unknown members are ignored, so clients may add fields.

const rollout = z.string().min(1).max(256);
/** A lock store's fences start at 1; 0 would say no lock was taken at all. */
const requestFence = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);

export const pushRequestSchema = z.object({
  rollout,
  version: z.string().min(1).max(256),
  sha256: z.string().regex(/^[0-9a-fA-F]{64}$/u),
  fence: requestFence,
  content: z.string(),
});
export const rollbackRequestSchema = z.object({ rollout, fence: requestFence });
export const pauseRequestSchema = z.object({ rollout });
export const resumeRequestSchema = z.object({ rollout, all: z.boolean().optional() });

export type PushRequest = z.infer<typeof pushRequestSchema>;
export type RollbackRequest = z.infer<typeof rollbackRequestSchema>;
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

/** `lock` is HOT while another live owner holds the drone's local lock on the file. */
export const configStateSchema = versionRefSchema.extend({ lock: z.enum(['free', 'HOT']), fence: answerFence });
export type ConfigState = z.infer<typeof configStateSchema>;
const configs = z.record(z.string(), configStateSchema);

export const healthAnswerSchema = z.object({ id: z.string(), state: droneStateSchema, configs, auth: authModeSchema });
export type HealthAnswer = z.infer<typeof healthAnswerSchema>;
export const healthBodySchema = healthAnswerSchema.partial({ auth: true });
export type HealthBody = z.infer<typeof healthBodySchema>;

/** Pause answers this; resume answers its `state` alone. */
export const pauseAnswerSchema = z.object({ state: droneStateSchema, configs });
export type PauseAnswer = z.infer<typeof pauseAnswerSchema>;
export type ResumeAnswer = Pick<PauseAnswer, 'state'>;
/** Reads the answers of both pause and resume. */
export const pauseBodySchema = pauseAnswerSchema.partial({ configs: true });
export type PauseBody = z.infer<typeof pauseBodySchema>;

export const pushAnswerSchema = versionRefSchema.extend({ previous: versionRefSchema.nullable(), seq });
export type PushAnswer = z.infer<typeof pushAnswerSchema>;
export const pushBodySchema = pushAnswerSchema.partial({ seq: true });
export type PushBody = z.infer<typeof pushBodySchema>;

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
