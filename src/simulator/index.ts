/** The simulator: many simulated drones on one port, their telemetry model, fault injection and counters. */
export {
  startFleetSim,
  SIM_INITIAL_CONFIG,
  SIM_INITIAL_VERSION,
  type FleetSimOptions,
  type RunningFleet,
} from './fleet-sim.js';
export { writeInventory } from './inventory.js';
export { DEFAULT_SEED, modelTelemetry, ModelTelemetry, type ModelTelemetryOptions } from './model-telemetry.js';
export type { SimStatsView } from './sim-stats.js';
export type { Sample } from './telemetry-stream.js';
