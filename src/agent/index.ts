/**
 * The drone side of fleet-rollout: the real agent, its telemetry and operational-state seams, and the
 * protocol's error codes.
 */
export { startAgent, type AgentOptions, type RunningServer } from './agent-server.js';
export { MAX_BODY_BYTES } from './http-io.js';
export { WIRE_ERRORS, WireError, type WireErrorBody, type WireErrorCode } from '../protocol/wire-errors.js';
export type {
  AuthMode,
  ConfigState as ConfigView,
  HealthAnswer as HealthView,
  LockView,
  Operational,
  OperationalView,
  PushAnswer as PushResult,
  RollbackAnswer as RollbackResult,
} from '../protocol/v1.js';
export type { TelemetryView } from './drone-agent.js';
export { CONFIG_NAME_RULE, configNameProblem } from './config-name.js';
export {
  noTelemetry,
  type ConfigContent,
  type TelemetryClock,
  type TelemetryDrone,
  type TelemetryPage,
  type TelemetrySource,
  type TelemetrySourceFactory,
} from './telemetry-source.js';
export {
  DEFAULT_OPERATIONAL_MAX_AGE_MS,
  DEFAULT_OPERATIONAL_TIMEOUT_MS,
  operationalFile,
  operationalUrl,
  type OperationalFileOptions,
  type OperationalSource,
  type OperationalUrlOptions,
} from './operational-source.js';
