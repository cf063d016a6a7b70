import { z } from 'zod';
import { specSchema } from './spec-schema.js';

/**
 * The JSON Schema of a rollout spec (what `rollout schema` prints), generated from the same zod schema
 * that validates specs. It describes what users write: durations as `30s`, limits as `25%`.
 */
export function specJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(specSchema, { io: 'input', target: 'draft-2020-12' });
}
