/**
 * A replay (what `campaign` writes for a failing workload case and `simulate --replay` reads): the case, the
 * workload configuration and the operations. Shared by replay (the file), replay-output (`simulate --replay
 * --json`) and campaign-output (a counterexample's replay).
 */
import { count, exact, orNull } from './common.js';

export const replayCase = exact({ config: { type: 'string' }, seed: count });

export const replayWorkload = exact({
  granule: { enum: [4096, 16384, 65536], description: '4096, 16384 or 65536' },
  stage: { enum: ['1', '2', 'nested'], description: '"1", "2" or "nested"' },
  ril: { type: 'boolean' },
  ats: { type: 'boolean' },
  e2h: { type: 'boolean' },
  smmus: { type: 'integer', minimum: 1, maximum: 16, description: 'an integer from 1 to 16' },
  policy: { enum: ['linux', 'tlbi'], description: '"linux" or "tlbi"' },
  fault: orNull({ type: 'string' }),
  mode: { enum: ['adversarial', 'generous'], description: '"adversarial" or "generous"' },
  errata: {
    type: 'array',
    items: { enum: ['mmu700-2812531', 'tegra264-repeat'], description: 'mmu700-2812531 or tegra264-repeat' },
  },
  seed: count,
});

const safe = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER };

/** One operation of a script: a map, an unmap (with the model's picks) or a configuration change. */
export const replayOp = {
  description: 'an operation: {"k": "map" | "unmap" | "config", …}',
  type: 'object',
  required: ['k'],
  properties: { k: { enum: ['map', 'unmap', 'config'] } },
  oneOf: [
    exact({
      k: { const: 'map' },
      d: count,
      slot: count,
      iova: safe,
      size: safe,
      leaf: safe,
      pa: safe,
      write: { type: 'boolean' },
    }),
    exact({
      k: { const: 'unmap' },
      d: count,
      slot: count,
      iova: safe,
      size: safe,
      picks: { type: 'array', items: count },
    }),
    exact({ k: { const: 'config' }, n: count }),
  ],
};

export const replayDocument = {
  kind: { const: 'replay' },
  case: replayCase,
  workload: replayWorkload,
  script: { type: 'array', items: replayOp },
};
