/**
 * vitest bench of the codec (`npm run bench -- bench/cmdq.bench.ts`): one iteration processes 10^6 entries,
 * so entries/s = hz × 10^6. For medians in entries/s use `npx tsx bench/cmdq-throughput.ts`.
 */
import { bench, describe } from 'vitest';
import { decodeChecked, decodeTyped, encodeUnchecked, encodeValidated, makeFixture } from './cmdq-fixture.js';

const fixture = makeFixture();
encodeUnchecked(fixture); // the decode benches read a filled queue
const opts = { time: 1500, warmupIterations: 2 };

describe('cmdq encode, 10^6 entries per iteration', () => {
  bench('writers.ts (unchecked)', () => void encodeUnchecked(fixture), opts);
  bench('encodeCommand (validated)', () => void encodeValidated(fixture), opts);
});

describe('cmdq decode, 10^6 entries per iteration', () => {
  bench('checker.checkSlot (no allocation)', () => void decodeChecked(fixture), opts);
  bench('decodeSlot (typed objects)', () => void decodeTyped(fixture), opts);
});
