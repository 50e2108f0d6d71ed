/**
 * `simulate --replay FILE --json`: the replay as read (its case, workload and operations) and the run's
 * report: the simulate figures, the stale translations, and the change that left the first one (`capture`,
 * with the commands each SMMU received and its caches before and after), or null.
 */
import { DIALECT, count, exact, mapOf, orNull, schemaId } from './common.js';
import { replayCase, replayOp, replayWorkload } from './replay-parts.js';

const object = { type: 'object' };
const caches = exact({ fills: count, removed: count, evicted: count, size: count });

export const schema = {
  $schema: DIALECT,
  $id: schemaId('replay-output'),
  title: 'smmuv3-tlbi simulate --replay FILE --json',
  ...exact({
    schemaVersion: { const: 1 },
    kind: { const: 'replay-run' },
    file: { type: 'string' },
    case: replayCase,
    workload: replayWorkload,
    script: { type: 'array', items: replayOp },
    report: exact(
      {
        seed: count,
        config: object,
        ops: count,
        maps: count,
        unmaps: count,
        commands: mapOf(count),
        syncs: count,
        illegal: count,
        stale: count,
        staleReports: { type: 'array', items: object },
        caches: exact({ tlb: caches, walk: caches, atc: caches }),
        translations: count,
        hits: exact({ atc: count, tlb: count, walks: count }),
        capture: orNull(object),
        skipped: count,
      },
      ['skipped'],
    ),
  }),
};
