/**
 * `simulate --json`, the randomized workload and a scenario alike (schemaVersion 2): the same top-level
 * fields for both; what only one kind has lives in `workload` or `scenario`, null for the other; a run stopped
 * by Ctrl-C adds `interrupted` and `opsPlanned`.
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
      // Only in the partial report of a run stopped by Ctrl-C (exit 130): `ops` of `opsPlanned` ran.
      interrupted: { const: true },
      opsPlanned: count,
    },
    ['interrupted', 'opsPlanned'],
  ),
  if: { properties: { kind: { const: 'workload' } } },
  then: { properties: { workload: object, scenario: { type: 'null' } } },
  else: { properties: { workload: { type: 'null' }, scenario: object } },
};
