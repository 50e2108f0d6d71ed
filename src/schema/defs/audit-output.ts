/**
 * `audit --json` (schemaVersion 2, streamed): `records` holds every finding and every re-planning row in the
 * order the audit found them, each tagged by `type`; the summary (input, counts, histograms, the re-planning
 * totals or null) follows them. `audit --capture --json` is capture-audit-output.
 */
import { DIALECT, exact, orNull, schemaId } from './common.js';
import { FINDING_OPTIONAL, counts, finding, histograms, input, replanRow, replanTotals } from './audit-parts.js';

export const schema = {
  $schema: DIALECT,
  $id: schemaId('audit-output'),
  title: 'smmuv3-tlbi audit --json',
  ...exact({
    schemaVersion: { const: 2 },
    records: {
      type: 'array',
      items: {
        oneOf: [
          exact({ type: { const: 'finding' }, ...finding }, FINDING_OPTIONAL),
          exact({ type: { const: 'replan' }, ...replanRow }),
        ],
      },
    },
    input,
    counts,
    histograms,
    replan: orNull(exact(replanTotals)),
  }),
};
