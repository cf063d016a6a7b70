import { test } from 'vitest';
import { checkSpecText } from '../../src/spec/validate-spec.js';
const texts = [`name: Bad Name
config:
  file: ../x.conf
  sourc: a.conf
fleet:
  inventory: fleet.yaml
  selector: { group: 3 }
canary:
  drones: 0
  bakes: 5 sec
  percent: 10
analysis:
  metrics:
    - { name: heart_rate }
    - { name: t, mx_increase: 25 }
    - { name: t, max_increase: 25 }
waves:
  - { percent: 50, bake: 30 }
  - { percent: 40 }
push: { concurrency: 2.5, timeout: 0s }
abort: { max_push_failures: -1, max_unreachable: 200% }
lock: { ttl: 2000h }
pause: []
extra: 1
`, `name: ok
config: { file: a.conf, source: a.conf }
fleet: { inventory: fleet.yaml }
canary: { drones: 3 }
`, '', 'a: [1\n'];
test("x", () => { for (const t of texts) { const r = checkSpecText(t, 'rollouts/x.yaml'); console.log(r.issues.map(i => `${i.file}:${i.line}:${i.column} ${i.key}: ${i.message}`).join('\n')); if (r.spec) console.log(JSON.stringify(r.spec)); console.log('---'); }
});
