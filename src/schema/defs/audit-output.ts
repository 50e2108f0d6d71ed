/**
 * `audit --json` (schemaVersion 2, streamed): `records` holds every finding and every re-planning row in the
 * order the audit found them, each tagged by `type`; the summary (input, counts, histograms, the re-planning
 * totals or null) follows them. A run that fails after records were written ends the document with `error`
 * ({exitCode, message}) in place of the summary. `audit --capture --json` is capture-audit-output.
 */
import { DIALECT, exact, orNull, runFailure, schemaId } from './common.js';
import { FINDING_OPTIONAL, counts, finding, histograms, input, replanRow, replanTotals } from './audit-parts.js';

const records = {
  type: 'array',
  items: {
    oneOf: [
      exact({ type: { const: 'finding' }, ...finding }, FINDING_OPTIONAL),
      exact({ type: { const: 'replan' }, ...replanRow }),
    ],
  },
};

/** A whole run's document; or one cut short by a late error: the records written so far, then `error`. */
export const schema = {
  $schema: DIALECT,
  $id: schemaId('audit-output'),
  title: 'smmuv3-tlbi audit --json',
  oneOf: [
    exact({
      schemaVersion: { const: 2 },
      records,
      input,
      counts,
      histograms,
      replan: orNull(exact(replanTotals)),
    }),
    exact({ schemaVersion: { const: 2 }, records, error: runFailure }),
  ],
};
