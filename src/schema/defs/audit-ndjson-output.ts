/**
 * One line of `audit --ndjson`: a finding (`type` "finding"), or the last line, the summary (`type`
 * "summary", with schemaVersion 2: input, counts, histograms, the re-planning totals or null).
 */
import { DIALECT, exact, orNull, schemaId } from './common.js';
import { FINDING_OPTIONAL, counts, finding, histograms, input, replanTotals } from './audit-parts.js';

export const schema = {
  $schema: DIALECT,
  $id: schemaId('audit-ndjson-output'),
  title: 'smmuv3-tlbi audit --ndjson (one line)',
  oneOf: [
    exact({ type: { const: 'finding' }, ...finding }, FINDING_OPTIONAL),
    exact({
      type: { const: 'summary' },
      schemaVersion: { const: 2 },
      input,
      counts,
      histograms,
      replan: orNull(exact(replanTotals)),
    }),
  ],
};
