/**
 * The page's URL state (web/src/state.ts) without a browser: every state survives the trip through the query
 * string, and anything a hand-edited link holds yields a usable state (never an exception).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { INV_TYPES, PGSIZES, defaultState, stateFromQuery, stateToQuery, type PageState } from '../web/src/state.js';

const text = fc.string({ maxLength: 12 });
const levels = (max: number) =>
  fc.uniqueArray(fc.integer({ min: 0, max }), { maxLength: 4 }).map((a) => [...a].sort((x, y) => x - y));

const stateArb: fc.Arbitrary<PageState> = fc.record({
  view: fc.constantFrom('plan', 'decode', 'simulate' as const),
  start: text,
  by: fc.constantFrom('size', 'last' as const),
  size: text,
  last: text,
  pgsize: fc.constantFrom(...PGSIZES),
  granule: fc.constantFrom(4096, 16384, 65536, 2 ** 21, 2 ** 25, 2 ** 29, 2 ** 30),
  desc: fc.constantFrom('linux', 'tlbi' as const),
  leaf: fc.boolean(),
  leafLevels: levels(3),
  tableLevels: levels(2),
  ril: fc.boolean(),
  e2h: fc.boolean(),
  forceSync: fc.boolean(),
  invs: fc.array(fc.record({ smmu: text, type: fc.constantFrom(...INV_TYPES), id: text, extra: text }), {
    maxLength: 5,
  }),
  sel: text,
  words: text,
  lax: fc.boolean(),
  queue: fc.constantFrom('non-secure', 'secure' as const),
  errorsOnly: fc.boolean(),
  simStage: fc.constantFrom('1', '2', 'nested' as const),
  simGranule: fc.constantFrom(...PGSIZES),
  simPolicy: fc.constantFrom('linux', 'tlbi' as const),
  simSmmus: text,
  simOps: text,
  simSeed: text,
  simRil: fc.boolean(),
  simAts: fc.boolean(),
  simMode: fc.constantFrom('adversarial', 'generous' as const),
  simFault: text,
});

/** What the query keeps of a state: the fields of the description not being edited are not written. */
function kept(st: PageState): PageState {
  const d = defaultState();
  const out = { ...st };
  if (st.by === 'size') out.last = '';
  else out.size = '';
  if (st.desc === 'linux') {
    out.leafLevels = d.leafLevels;
    out.tableLevels = d.tableLevels;
  } else out.leaf = d.leaf;
  if (st.view !== 'simulate')
    Object.assign(out, {
      simStage: d.simStage,
      simGranule: d.simGranule,
      simPolicy: d.simPolicy,
      simSmmus: d.simSmmus,
      simOps: d.simOps,
      simSeed: d.simSeed,
      simRil: d.simRil,
      simAts: d.simAts,
      simMode: d.simMode,
      simFault: d.simFault,
    });
  return out;
}

describe('URL state', () => {
  it('round-trips every state through the query string', () => {
    fc.assert(
      fc.property(stateArb, (st) => {
        expect(stateFromQuery(stateToQuery(st))).toEqual(kept(st));
      }),
    );
  });

  it('an empty query is the default state', () => {
    expect(stateFromQuery('')).toEqual(defaultState());
  });

  it('any query string gives a usable state', () => {
    fc.assert(
      fc.property(fc.string(), (q) => {
        const st = stateFromQuery(q);
        expect(PGSIZES).toContain(st.pgsize);
        expect(['plan', 'decode', 'simulate']).toContain(st.view);
        for (const r of st.invs) expect(INV_TYPES).toContain(r.type);
        expect(Number.isSafeInteger(st.granule) && st.granule > 0).toBe(true);
      }),
    );
  });
});
