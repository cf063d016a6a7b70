import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/cli/output/logger.js';
import { humanLogLine } from '../../src/cli/output/log-text.js';

function collector() {
  const lines: string[] = [];
  return { lines, stream: { write: (text: string) => lines.push(text) } };
}

describe('humanLogLine', () => {
  it('prints level, drone and message, and the bindings worth reading', () => {
    const line = JSON.stringify({
      level: 50,
      time: 1,
      pid: 7,
      rollout: 'r-1',
      drone: 'drone-7',
      kind: 'unreachable',
      msg: 'rollback failed: timeout',
    });
    expect(humanLogLine(`${line}\n`)).toBe('error: drone-7: rollback failed: timeout\n');
    const staged = JSON.stringify({ level: 40, drone: 'drone-3', stage: 'pushing', msg: 'HTTP 500' });
    expect(humanLogLine(staged)).toBe('warn: drone-3: HTTP 500 (stage: pushing)\n');
  });

  it("adds an error's message that the log message leaves out, once", () => {
    const err = { type: 'Error', message: 'ENOSPC: no space left on device', stack: 'Error: …' };
    expect(humanLogLine(JSON.stringify({ level: 50, err, msg: 'writing the rollout state failed' }))).toBe(
      'error: writing the rollout state failed: ENOSPC: no space left on device\n',
    );
    expect(humanLogLine(JSON.stringify({ level: 50, err, msg: 'failed: ENOSPC: no space left on device' }))).toBe(
      'error: failed: ENOSPC: no space left on device\n',
    );
  });

  it('passes a line that is not JSON through', () => {
    expect(humanLogLine('plain words')).toBe('plain words\n');
  });
});

describe('createLogger on stderr', () => {
  it('prints short human lines in text mode', () => {
    const stderr = collector();
    const logger = createLogger({ level: 'error', format: 'text', stderr: stderr.stream }).child({ rollout: 'r-1' });
    logger.error({ drone: 'drone-7', kind: 'refused' }, 'rollback failed: unauthorized: missing token');
    logger.warn('below the level');
    expect(stderr.lines).toEqual(['error: drone-7: rollback failed: unauthorized: missing token\n']);
  });

  it('keeps pino NDJSON in json mode', () => {
    const stderr = collector();
    createLogger({ level: 'warn', format: 'json', stderr: stderr.stream }).warn({ drone: 'drone-2' }, 'slow');
    expect(stderr.lines).toHaveLength(1);
    expect(JSON.parse(stderr.lines[0]!)).toMatchObject({ level: 40, drone: 'drone-2', msg: 'slow' });
  });
});
