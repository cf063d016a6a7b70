import { describe, expect, it } from 'vitest';
import { specJsonSchema, validateSpecText } from '../../src/spec/index.js';
import { DEFAULT_ANALYSIS, SPEC_FILE, specErrors, specText } from '../helpers/spec.js';

/** A valid spec whose `analysis` section starts on line 5. */
const spec = (analysis: readonly string[]): string => specText({ rest: analysis.join('\n') });

describe('analysis keys for the statistical judge', () => {
  it('defaults the analysis-wide settings', () => {
    expect(validateSpecText(spec([]), SPEC_FILE, '/base').analysis).toEqual(DEFAULT_ANALYSIS);
  });

  it('reads every new key, snake_case to camelCase, and keeps the old ones as they were', () => {
    const parsed = validateSpecText(
      spec([
        'analysis:',
        '  confidence: 0.99',
        '  pass_score: 90',
        '  marginal_score: 50',
        '  min_reporting_drones: 2',
        '  inconclusive: wait',
        '  metrics:',
        '    - { name: heart_rate, max: 120, min: 40 }',
        '    - { name: trajectory_error, max_increase: 25%, direction: increase, allowed_increase: 10%, critical: true }',
        '    - { name: battery, direction: decrease, allowed_decrease: 5%, confidence: 0.9, weight: 2, nodata: fail }',
        '    - { name: temperature, allowed_decrease: 20%, nodata: ignore, dry_run: true }',
      ]),
      SPEC_FILE,
      '/base',
    );
    expect(parsed.analysis).toEqual({
      intervalMs: 5_000,
      minSamples: 3,
      failureLimit: 1,
      confidence: 0.99,
      passScore: 90,
      marginalScore: 50,
      minReportingDrones: 2,
      inconclusive: 'wait',
      metrics: [
        { name: 'heart_rate', max: 120, min: 40 },
        { name: 'trajectory_error', maxIncrease: 0.25, direction: 'increase', allowedIncrease: 0.1, critical: true },
        { name: 'battery', direction: 'decrease', allowedDecrease: 0.05, confidence: 0.9, weight: 2, nodata: 'fail' },
        { name: 'temperature', allowedDecrease: 0.2, nodata: 'ignore', dryRun: true },
      ],
    });
  });

  it('rejects bad values with file, line, column and key', () => {
    const text = spec([
      'analysis:',
      '  confidence: 98%',
      '  pass_score: 101',
      '  min_reporting_drones: 0',
      '  inconclusive: pause',
      '  metrics:',
      '    - { name: a, direction: up, weight: 0 }',
      '    - { name: b, max: 1, confidence: 1, critical: yes, nodata: skip, dry_run: 1 }',
      '    - { name: c, allowed_increase: 10, allowed_decrease: 120% }',
    ]);
    expect(specErrors(text)).toEqual([
      'rollouts/x.yaml:6:15 analysis.confidence: must be a confidence level above 0 and below 1, like 0.98, got "98%"',
      'rollouts/x.yaml:7:15 analysis.pass_score: must be a score from 0 to 100, got 101',
      'rollouts/x.yaml:8:25 analysis.min_reporting_drones: must be a positive integer, got 0',
      'rollouts/x.yaml:9:17 analysis.inconclusive: must be rollback or wait, got "pause"',
      'rollouts/x.yaml:11:29 analysis.metrics[0].direction: must be increase, decrease or either, got "up"',
      'rollouts/x.yaml:11:41 analysis.metrics[0].weight: must be a number greater than 0, got 0',
      'rollouts/x.yaml:12:38 analysis.metrics[1].confidence: must be a confidence level above 0 and below 1, like 0.98, got 1',
      'rollouts/x.yaml:12:51 analysis.metrics[1].critical: must be true or false, got "yes"',
      'rollouts/x.yaml:12:64 analysis.metrics[1].nodata: must be fail, inconclusive or ignore, got "skip"',
      'rollouts/x.yaml:12:79 analysis.metrics[1].dry_run: must be true or false, got 1',
      'rollouts/x.yaml:13:36 analysis.metrics[2].allowed_increase: must be a percentage like "25%", got 10',
      'rollouts/x.yaml:13:58 analysis.metrics[2].allowed_decrease: must be a percentage like "25%", at most "100%", got "120%"',
    ]);
  });

  it('needs a limit or a direction, and a tolerance that can apply', () => {
    expect(specErrors(spec(['analysis:', '  metrics:', '    - { name: a, weight: 2 }']))).toEqual([
      'rollouts/x.yaml:7:7 analysis.metrics[0]: needs at least one limit: max, min, max_increase, max_decrease or direction',
    ]);
    expect(
      specErrors(
        spec([
          'analysis:',
          '  metrics:',
          '    - { name: a, direction: decrease, allowed_increase: 10% }',
          '    - { name: b, direction: increase, allowed_decrease: 10% }',
        ]),
      ),
    ).toEqual([
      'rollouts/x.yaml:7:57 analysis.metrics[0].allowed_increase: has no effect with direction decrease',
      'rollouts/x.yaml:8:57 analysis.metrics[1].allowed_decrease: has no effect with direction increase',
    ]);
  });

  it('needs marginal_score at most pass_score', () => {
    expect(specErrors(spec(['analysis:', '  pass_score: 80', '  marginal_score: 90']))).toEqual([
      'rollouts/x.yaml:7:19 analysis.marginal_score: must not be above pass_score (80), got 90',
    ]);
  });

  it('suggests the snake_case key for a camelCase one', () => {
    expect(
      specErrors(
        spec(['analysis:', '  passScore: 90', '  metrics:', '    - { name: a, direction: either, dryRun: true }']),
      ),
    ).toEqual([
      'rollouts/x.yaml:6:3 analysis.passScore: unknown key; did you mean pass_score?',
      'rollouts/x.yaml:8:37 analysis.metrics[0].dryRun: unknown key; did you mean dry_run?',
    ]);
  });

  it('shows the new keys with their defaults in the JSON Schema', () => {
    const analysis = (
      specJsonSchema().properties as Record<string, { properties: Record<string, Record<string, unknown>> }>
    ).analysis;
    expect(analysis?.properties.confidence).toMatchObject({ type: 'number', default: 0.98 });
    expect(analysis?.properties.pass_score).toMatchObject({ default: 95 });
    expect(analysis?.properties.marginal_score).toMatchObject({ default: 75 });
    expect(analysis?.properties.min_reporting_drones).toMatchObject({ default: 1 });
    expect(analysis?.properties.inconclusive).toMatchObject({ enum: ['rollback', 'wait'], default: 'rollback' });
    interface ObjectSchema {
      properties: Record<string, Record<string, unknown>>;
      additionalProperties: unknown;
    }
    const metric = (analysis?.properties.metrics as { items: ObjectSchema }).items;
    expect(metric.additionalProperties).toBe(false);
    expect(Object.keys(metric.properties)).toEqual([
      'name',
      'provider',
      'query',
      'max',
      'min',
      'max_increase',
      'max_decrease',
      'direction',
      'allowed_increase',
      'allowed_decrease',
      'confidence',
      'critical',
      'weight',
      'nodata',
      'dry_run',
    ]);
    expect(metric.properties.direction).toMatchObject({ enum: ['increase', 'decrease', 'either'], default: 'either' });
    expect(metric.properties.weight).toMatchObject({ default: 1 });
    expect(metric.properties.nodata).toMatchObject({ default: 'inconclusive' });
  });
});
