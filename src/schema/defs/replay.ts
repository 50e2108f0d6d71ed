/** A replay file (`campaign` writes one per failing workload case; `simulate --replay FILE` reads it). */
import { DIALECT, exact, schemaId } from './common.js';
import { replayDocument } from './replay-parts.js';

export const schema = {
  $schema: DIALECT,
  $id: schemaId('replay'),
  title: 'smmuv3-tlbi replay file',
  ...exact({ schemaVersion: { const: 1, description: 'replay schemaVersion 1' }, ...replayDocument }),
};
