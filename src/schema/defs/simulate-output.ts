/**
 * `simulate --json`, the randomized workload and a scenario alike (schemaVersion 2): the same top-level
 * fields for both; what only one kind has lives in `workload` or `scenario`, null for the other; a run stopped
 * by Ctrl-C adds `interrupted` and `opsPlanned` (a scenario `opsDone` too).
 */
import { DIALECT, count, exact, mapOf, orNull, schemaId } from './common.js';

const object = { type: 'object' };

export const schema = {
  $schema: DIALECT,
  $id: schemaId('simulate-output'),
  title: 'smmuv3-tlbi simulate --json',
  ...exact(
    {
      schemaVersion: { const: 2 },
      kind: { enum: ['workload', 'scenario'] },
      seed: count,
      config: object,
      ok: { type: 'boolean' },
      ops: count,
      operations: mapOf(count),
      commands: mapOf(count),
      syncs: count,
      stale: count,
      staleReports: { type: 'array', items: object },
      violations: mapOf(count),
      failures: count,
      elapsedMs: { type: 'number', minimum: 0 },
      opsPerSecond: { type: 'number', minimum: 0 },
      workload: orNull(exact({ illegal: count, caches: object, translations: count, hits: object })),
      scenario: orNull(
        exact({
          name: { type: 'string' },
          skipped: count,
          invalidation: object,
          hostFilter: orNull(object),
          comparison: { type: 'array', items: object },
        }),
      ),
      // Only in the partial report of a run stopped by Ctrl-C (exit 130). The workload: `ops` of `opsPlanned`
      // ran. A scenario: `opsDone` of `opsPlanned` main-loop operations ran, counted over every policy run
      // (its `ops` counts the detailed run's operations by kind; `scenario.comparison` holds the runs started).
      interrupted: { const: true },
      opsPlanned: count,
      opsDone: count,
    },
    ['interrupted', 'opsPlanned', 'opsDone'],
  ),
  if: { properties: { kind: { const: 'workload' } } },
  then: { properties: { workload: object, scenario: { type: 'null' } } },
  else: { properties: { workload: { type: 'null' }, scenario: object } },
};
