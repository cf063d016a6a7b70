/** The spec module: YAML with positions → one validated spec → the plan (targeted drones, canary, waves). */
export { loadPlan, type LoadPlanOptions } from './load-plan.js';
export { validateSpecText, checkSpecText, type SpecCheck } from './validate-spec.js';
export { parseInventoryText, checkInventoryText, type InventoryCheck } from './inventory.js';
export { planSteps, canaryDrones, checkFleetFit, shareOf } from './plan-steps.js';
export { selectDrones, matchesLabels, formatLabels } from './select-drones.js';
export { specJsonSchema } from './json-schema.js';
export { SpecError, formatSpecIssue, type SpecIssue } from './spec-error.js';
export { formatDuration, parseDuration } from './duration.js';
export { displayPath } from './spec-files.js';
export type * from './types.js';
