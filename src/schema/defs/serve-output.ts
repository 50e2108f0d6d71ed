/** `serve --json`: where the page is served, printed once the server listens. */
import { DIALECT, exact, schemaId } from './common.js';

export const schema = {
  $schema: DIALECT,
  $id: schemaId('serve-output'),
  title: 'smmuv3-tlbi serve --json',
  ...exact({
    schemaVersion: { const: 1 },
    url: { type: 'string', pattern: '^http://127\\.0\\.0\\.1:[0-9]+/$' },
    port: { type: 'integer', minimum: 1, maximum: 65535 },
    dir: { type: 'string' },
  }),
};
