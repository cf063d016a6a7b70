/** The bodies of the drone protocol (`/v1`), as the orchestrator reads them. */

export interface ConfigState {
  readonly version: string;
  readonly sha256: string;
  readonly lock: 'free' | 'HOT';
  readonly fence: number;
}

export interface HealthBody {
  readonly id: string;
  readonly state: 'active' | 'paused';
  readonly configs: Readonly<Record<string, ConfigState>>;
}

export interface PauseBody {
  readonly state: 'active' | 'paused';
  readonly configs?: Readonly<Record<string, ConfigState>>;
}

export interface PushRequest {
  readonly rollout: string;
  readonly version: string;
  readonly sha256: string;
  readonly fence: number;
  readonly content: string;
}

export interface VersionRef {
  readonly version: string;
  readonly sha256: string;
}

export interface PushBody extends VersionRef {
  readonly previous: VersionRef | null;
}

export interface RollbackBody extends VersionRef {
  readonly restored?: boolean;
}

export interface TelemetrySample {
  readonly seq: number;
  readonly t: number;
  readonly metrics: Readonly<Record<string, number>>;
}

export interface TelemetryBody {
  readonly samples: readonly TelemetrySample[];
  readonly next: number;
  readonly configs?: Readonly<Record<string, ConfigState>>;
}

export interface ErrorBody {
  readonly error: string;
  readonly message: string;
  readonly lock?: string;
}
