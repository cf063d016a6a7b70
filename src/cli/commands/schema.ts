import { specJsonSchema } from '../../spec/json-schema.js';

/** Prints the JSON Schema of the rollout spec, generated from the schema that validates it. */
export async function schemaCommand(): Promise<number> {
  process.stdout.write(`${JSON.stringify(specJsonSchema(), null, 2)}\n`);
  return 0;
}
