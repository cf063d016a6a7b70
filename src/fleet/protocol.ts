import { z } from 'zod';

/** The bodies of the drone protocol (`/v1`), as the orchestrator reads them: checked where they arrive. */

/** Fences are safe integers a store can still go above. */
const fence = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER - 1);

export const configStateSchema = z.object({
  version: z.string(),
  sha256: z.string(),
  lock: z.enum(['free', 'HOT']),
  fence,
});
export type ConfigState = z.infer<typeof configStateSchema>;

const configs = z.record(z.string(), configStateSchema);

export const healthBodySchema = z.object({
  id: z.string(),
  state: z.enum(['active', 'paused']),
  configs,
  auth: z.enum(['none', 'bearer']).optional(),
});
export type HealthBody = z.infer<typeof healthBodySchema>;

export const pauseBodySchema = z.object({ state: z.enum(['active', 'paused']), configs: configs.optional() });
export type PauseBody = z.infer<typeof pauseBodySchema>;

export interface PushRequest {
  readonly rollout: string;
  readonly version: string;
  readonly sha256: string;
  readonly fence: number;
  readonly content: string;
}

const versionRef = z.object({ version: z.string(), sha256: z.string() });
export type VersionRef = z.infer<typeof versionRef>;

/** `seq`: the first telemetry sample taken under the installed config (agents that know it say so). */
export const pushBodySchema = versionRef.extend({ previous: versionRef.nullable(), seq: z.number().int().nonnegative().optional() });
export type PushBody = z.infer<typeof pushBodySchema>;

/** A rollback that leaves no file (the push had created it) answers null for both. */
export const rollbackBodySchema = z.object({
  version: z.string().nullable(),
  sha256: z.string().nullable(),
  restored: z.boolean().optional(),
  seq: z.number().int().nonnegative().optional(),
});
export type RollbackBody = z.infer<typeof rollbackBodySchema>;

const sampleSchema = z.object({ seq: z.number().int().nonnegative(), t: z.number(), metrics: z.record(z.string(), z.number()) });
export type TelemetrySample = z.infer<typeof sampleSchema>;

/** `now`: the drone's clock when it answered, the clock that stamps `t` (agents that know it say so). */
export const telemetryBodySchema = z.object({
  samples: z.array(sampleSchema),
  next: z.number().int().nonnegative(),
  configs: configs.optional(),
  now: z.number().optional(),
});
export type TelemetryBody = z.infer<typeof telemetryBodySchema>;

export interface ErrorBody {
  readonly error: string;
  readonly message: string;
  readonly lock?: string;
  readonly highestFence?: number;
}
