/** The drone side of fleet-rollout: a real agent, a simulated fleet, and the protocol's error codes. */
export { startAgent, type AgentOptions, type RunningServer } from './agent-server.js';
export { startFleetSim, SIM_INITIAL_CONFIG, SIM_INITIAL_VERSION, type FleetSimOptions, type RunningFleet } from './fleet-sim.js';
export { writeInventory } from './inventory.js';
export { MAX_BODY_BYTES } from './http-io.js';
export { WIRE_ERRORS, WireError, type WireErrorBody, type WireErrorCode } from '../protocol/wire-errors.js';
export type {
  AuthMode,
  ConfigState as ConfigView,
  HealthAnswer as HealthView,
  LockView,
  PushAnswer as PushResult,
  RollbackAnswer as RollbackResult,
} from '../protocol/v1.js';
export type { TelemetryView } from './drone-agent.js';
export { CONFIG_NAME_RULE, configNameProblem } from './config-name.js';
export type { Sample } from './telemetry-stream.js';
