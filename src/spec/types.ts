import type { NOTIFY_EVENTS, WEBHOOK_TYPES } from './signals-schema.js';

/** The validated rollout spec, with durations in milliseconds and paths resolved. */

export type Labels = Readonly<Record<string, string>>;

/** One drone of the inventory: a base URL that serves the /v1 protocol. */
export interface Drone {
  readonly id: string;
  readonly url: string;
  readonly labels: Labels;
}

/** A limit that is either an absolute count or a share of the targeted drones. */
export type Threshold =
  { readonly kind: 'count'; readonly value: number } | { readonly kind: 'percent'; readonly value: number };

/** Which significant shift of the canary against the baseline counts against it. */
export type MetricDirection = 'increase' | 'decrease' | 'either';

/** What a metric without enough data does to its interval. */
export type NoDataPolicy = 'fail' | 'inconclusive' | 'ignore';

export interface MetricSpec {
  readonly name: string;
  /** The provider it comes from, by name, with its query; absent: the drones' own telemetry. */
  readonly provider?: string;
  /** The provider query; `{{drones}}` becomes a regex of one group's sampled drone ids. */
  readonly query?: string;
  /** Absolute limits on the canary's median. */
  readonly max?: number;
  readonly min?: number;
  /** Relative limits of the canary's median against the baseline's, as fractions (25% is 0.25). */
  readonly maxIncrease?: number;
  readonly maxDecrease?: number;
  /**
   * Compares the canary's samples with the baseline's (Mann-Whitney U) and flags a significant shift
   * this way. The comparison runs when this, `allowedIncrease`, `allowedDecrease` or `confidence` is set.
   * @default 'either'
   */
  readonly direction?: MetricDirection;
  /** A significant shift whose relative median change is within this fraction still passes. */
  readonly allowedIncrease?: number;
  readonly allowedDecrease?: number;
  /** Confidence level of the comparison. @default the analysis' `confidence` */
  readonly confidence?: number;
  /** A failing critical metric fails its interval whatever the score. @default false */
  readonly critical?: boolean;
  /** Share of the interval's score. @default 1 */
  readonly weight?: number;
  /** @default 'inconclusive' */
  readonly nodata?: NoDataPolicy;
  /** Judged and recorded, never acted on: left out of the score. @default false */
  readonly dryRun?: boolean;
}

export interface RolloutSpec {
  readonly name: string;
  readonly config: {
    /** The file's name on every drone. */
    readonly file: string;
    /** Absolute path of the new content (resolved against the spec's folder). */
    readonly source: string;
    /** Optional version label; defaults to the first 12 hex digits of the content's sha256. */
    readonly version?: string;
    /** Checks of the content run before anything reaches a drone. */
    readonly validate: readonly ConfigValidator[];
    /** Every push is signed with this Ed25519 private key (an absolute path). */
    readonly sign?: { readonly keyFile: string };
  };
  readonly fleet: {
    /** Absolute path of the inventory file. */
    readonly inventory: string;
    readonly selector?: Labels;
    /** What to do when the paused fleet runs more than one version besides the new one. */
    readonly mixedVersions: 'refuse' | 'adopt';
    /** TLS to `https://` drones: absolute paths of PEM files. */
    readonly tls?: TlsFiles;
  };
  readonly pause: {
    readonly fleet: boolean;
    readonly timeoutMs: number;
    /** How long a pause holds a drone unless renewed; the drone resumes by itself once all its holds lapse. */
    readonly holdMs: number;
  };
  readonly lock: { readonly ttlMs: number; readonly waitMs: number };
  readonly canary: {
    readonly drones?: number;
    readonly percent?: number;
    /** Drones carrying these labels form the canary, instead of the first N. */
    readonly label?: Labels;
    readonly bakeMs: number;
    readonly approval: 'auto' | 'manual';
    /** Label names whose distinct values the canary covers as far as its size allows. */
    readonly spreadBy?: readonly string[];
    /** Draw the canary at random, from a seed recorded in the audit log. */
    readonly random: boolean;
  };
  readonly analysis: {
    readonly intervalMs: number;
    readonly minSamples: number;
    readonly failureLimit: number;
    readonly metrics: readonly MetricSpec[];
    /** Default confidence level of the metrics' comparisons (0.98). */
    readonly confidence: number;
    /** An interval scoring at least this (0-100) passes (95). */
    readonly passScore: number;
    /** An interval scoring at least this, below `passScore`, is inconclusive; below it fails (75). */
    readonly marginalScore: number;
    /** Fewer canary drones reporting a metric than this: the metric has no data (1). */
    readonly minReportingDrones: number;
    /** What an inconclusive step does: roll back, or wait for a human (the rollout machine decides). */
    readonly inconclusive: 'rollback' | 'wait';
  };
  readonly waves: readonly { readonly percent: number; readonly bakeMs: number }[];
  readonly push: {
    readonly concurrency: number;
    readonly timeoutMs: number;
    readonly retries: number;
    /** Every push is a trial the drone reverts by itself unless confirmed within this long. */
    readonly confirmWithinMs?: number;
  };
  readonly abort: { readonly maxPushFailures: Threshold; readonly maxUnreachable: Threshold };
  /** Operational gates; absent: every drone may take a push at any time. */
  readonly gates?: GatesSpec;
  /** Metric providers by name. */
  readonly providers: Readonly<Record<string, MetricProvider>>;
  readonly webhooks: readonly WebhookSpec[];
  readonly notify: readonly NotifySpec[];
}

/** PEM files for TLS to the drones; `certFile` and `keyFile` come together (mutual TLS). */
export interface TlsFiles {
  /** The CA the drones' certificates must chain to; absent: the system's trusted CAs. */
  readonly caFile?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
}

export interface GatesSpec {
  /** A CEL condition over a drone's operational state (push-gate.ts); it has compiled. */
  readonly pushWhen: string;
  /** How long a drone may defer its push, from the first time the gate held it back. */
  readonly waitMs: number;
  /** How often held-back drones are checked again once every step has been pushed. */
  readonly recheckMs: number;
  /** A drone still held back after `waitMs`: left on the old config (`skip`), or the rollout rolls back. */
  readonly onTimeout: 'skip' | 'rollback';
}

/** A Prometheus server; files are absolute paths (resolved against the spec's folder). */
export interface MetricProvider {
  readonly name: string;
  readonly kind: 'prometheus';
  readonly url: string;
  readonly timeoutMs: number;
  /** Resolution of range queries. */
  readonly stepMs: number;
  readonly basicAuth?: { readonly username: string; readonly passwordFile: string };
  readonly bearerTokenFile?: string;
}

export type WebhookType = (typeof WEBHOOK_TYPES)[number];

export interface WebhookSpec {
  readonly name: string;
  readonly type: WebhookType;
  readonly url: string;
  /** One call's timeout. */
  readonly timeoutMs: number;
  readonly retries: number;
  /** confirm-promotion: how long it keeps asking before rolling back. */
  readonly waitMs: number;
  readonly secretFile?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

export type NotifyEvent = (typeof NOTIFY_EVENTS)[number];

export interface NotifySpec {
  readonly url: string;
  readonly format: 'json' | 'slack';
  readonly on: readonly NotifyEvent[];
  readonly timeoutMs: number;
  readonly retries: number;
}

/** A check of the config's content; `name` defaults to its file or program. */
export type ConfigValidator =
  | { readonly kind: 'json_schema'; readonly name: string; readonly schemaPath: string }
  | { readonly kind: 'command'; readonly name: string; readonly argv: readonly string[]; readonly timeoutMs: number };

/** The new config as it will be pushed. */
export interface ConfigArtifact {
  readonly file: string;
  readonly sourcePath: string;
  readonly content: string;
  readonly sha256: string;
  readonly version: string;
}

/** One step of the rollout: the canary, then each wave; every targeted drone is in exactly one step. */
export interface PlanStep {
  readonly index: number;
  readonly kind: 'canary' | 'wave';
  /** `canary`, `wave 1`, `wave 2`, ... */
  readonly name: string;
  /** Cumulative share of the targeted drones on the new config once this step is done. */
  readonly percent: number;
  /** Ids of the drones this step pushes to (not those of earlier steps). */
  readonly drones: readonly string[];
  readonly bakeMs: number;
}

export interface Plan {
  readonly specPath: string;
  readonly spec: RolloutSpec;
  readonly config: ConfigArtifact;
  /** The targeted drones (inventory order, selector applied). */
  readonly drones: readonly Drone[];
  readonly steps: readonly PlanStep[];
  /** The seed the canary was drawn with (`canary.random`); the record and audit log keep it for resume and replay. */
  readonly canarySeed?: string;
}
