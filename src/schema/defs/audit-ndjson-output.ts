/**
 * One line of `audit --ndjson`: a finding (`type` "finding"), or the last line, the summary (`type`
 * "summary", with schemaVersion 2: input, counts, histograms, the re-planning totals or null); a run that
 * fails after findings were written ends with a line of `type` "error" (schemaVersion, exitCode, message).
 */
import { DIALECT, exact, orNull, runFailureFields, schemaId } from './common.js';
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
    exact({ type: { const: 'error' }, schemaVersion: { const: 2 }, ...runFailureFields }),
  ],
};
