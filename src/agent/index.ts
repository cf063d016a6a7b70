/** The drone side of fleet-rollout: a real agent, a simulated fleet, and the protocol's error codes. */
export { startAgent, type AgentOptions, type RunningServer } from './agent-server.js';
export { startFleetSim, SIM_INITIAL_CONFIG, SIM_INITIAL_VERSION, type FleetSimOptions, type RunningFleet } from './fleet-sim.js';
export { writeInventory } from './inventory.js';
export { MAX_BODY_BYTES } from './http-io.js';
export { WIRE_ERRORS, WireError, type WireErrorBody, type WireErrorCode } from './wire-errors.js';
export type { AuthMode, ConfigView, HealthView, LockView, PushResult, RollbackResult, TelemetryView } from './drone-agent.js';
export { CONFIG_NAME_RULE, configNameProblem } from './config-name.js';
export type { Sample } from './telemetry-stream.js';
