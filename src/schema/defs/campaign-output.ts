/**
 * `campaign --json` and `campaign merge --json` (the report of one shard, or of every shard merged): the
 * matrix, the shard, whether every case ran, the totals, a row per configuration, every case (a failing
 * workload case with its shrunk counterexample), and the timing (the one part not determined by the matrix,
 * the seeds and the shard). `campaign --list --json` is campaign-matrix-output.
 */
import { AXES } from '../../campaign/matrix.js';
import { DIALECT, count, exact, orNull, schemaId } from './common.js';
import { replayDocument } from './replay-parts.js';

const str = { type: 'string' };
const bool = { type: 'boolean' };

/** Every axis with its chosen values (each a value the axis has). */
export const axes = exact(
  Object.fromEntries(
    Object.entries(AXES).map(([a, values]) => [a, { type: 'array', items: { enum: [...values] }, minItems: 1 }]),
  ),
);

const counterexample = exact({
  found: count,
  shrunk: count,
  tests: count,
  exhausted: bool,
  replay: exact(replayDocument),
});

const caseResult = exact(
  {
    index: count,
    config: str,
    seed: count,
    ops: count,
    stale: count,
    violations: count,
    ok: bool,
    first: orNull(str),
    reproduce: str,
    counterexample: orNull(counterexample),
    scenarioOps: count,
    time: exact({ runMs: count, shrinkMs: count }),
  },
  ['counterexample', 'scenarioOps'],
);

export const schema = {
  $schema: DIALECT,
  $id: schemaId('campaign-output'),
  title: 'smmuv3-tlbi campaign --json',
  ...exact({
    schemaVersion: { const: 1 },
    kind: { const: 'campaign' },
    matrix: exact({
      axes,
      configurations: { type: 'array', items: str },
      seeds: exact({ first: count, last: orNull(count) }),
      ops: orNull(count),
      fault: orNull(str),
      smmus: count,
      mode: { enum: ['adversarial', 'generous'] },
      timeBudgetMs: orNull(count),
    }),
    shard: exact({ k: { type: 'integer', minimum: 1 }, n: { type: 'integer', minimum: 1 } }),
    interrupted: bool,
    stoppedOnFailure: bool,
    complete: bool,
    totals: exact({ cases: count, ops: count, stale: count, violations: count, failingCases: count }),
    configurations: {
      type: 'array',
      items: exact({
        config: str,
        cases: count,
        ops: count,
        stale: count,
        violations: count,
        failingSeeds: { type: 'array', items: count, maxItems: 50 },
        failingCases: count,
      }),
    },
    cases: { type: 'array', items: caseResult },
    timing: exact({ wallMs: count, cpuMs: count, jobs: { type: 'integer', minimum: 1 } }),
  }),
};
