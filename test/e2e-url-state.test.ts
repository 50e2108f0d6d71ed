/**
 * The page's URL state (web/src/state.ts, web/src/share.ts) without a browser: every state survives the trip
 * through the query string and through the compressed fragment (checked against zlib), and anything a
 * hand-edited link holds yields a usable state or a message (never an exception).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import {
  InlineQueryMax,
  UnpackedMaxChars,
  UrlMaxChars,
  inlineLink,
  linkFor,
  packQuery,
  queryOfLocation,
  unpackQuery,
} from '../web/src/share.js';
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
  ds: fc.boolean(),
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

/** The URL text that URLSearchParams would never produce, but a hand-edited link may hold: any string. */
const anyText = fc.string({ unit: 'binary', maxLength: 3000 });

describe('share links (web/src/share.ts)', () => {
  const base = 'http://127.0.0.1:8080/';

  it('packs into base64url deflate-raw that zlib reads back, and unpacks what zlib wrote', async () => {
    await fc.assert(
      fc.asyncProperty(anyText, async (q) => {
        const packed = await packQuery(q);
        expect(packed).toMatch(/^[A-Za-z0-9_-]*$/);
        // zlib is the independent reference for the format.
        expect(inflateRawSync(Buffer.from(packed, 'base64url')).toString('utf8')).toBe(q);
        expect(await unpackQuery(deflateRawSync(Buffer.from(q, 'utf8')).toString('base64url'))).toBe(q);
        expect(await unpackQuery(packed)).toBe(q);
      }),
      { numRuns: 60 },
    );
  });

  it('a small state stays readable in the query string; a larger one goes compressed into the fragment', async () => {
    const small = stateToQuery(defaultState());
    const inline = await linkFor(base, small);
    expect(inline).toEqual({
      href: `?${small}`,
      kind: 'query',
      length: base.length + 1 + small.length,
      tooLong: false,
    });
    expect(inlineLink(base, 'x'.repeat(InlineQueryMax))?.kind).toBe('query');
    expect(inlineLink(base, 'x'.repeat(InlineQueryMax + 1))).toBeNull();
    const words = Array.from({ length: 400 }, (_, k) => `0x${(k * 0x1000).toString(16)}12 0x0`).join('\n');
    const big = stateToQuery({ ...defaultState(), view: 'decode', words });
    expect(big.length).toBeGreaterThan(InlineQueryMax);
    const link = await linkFor(base, big);
    expect(link.kind).toBe('fragment');
    expect(link.href.startsWith('#z=')).toBe(true);
    expect(link.length).toBe(base.length + link.href.length);
    expect(link.length).toBeLessThan(big.length);
    const back = await queryOfLocation('', link.href);
    expect(back).toEqual({ query: big });
    expect(stateFromQuery(back.query).words).toBe(words);
  });

  it('an old query-string link opens as before; a fragment wins over the query string', async () => {
    expect(await queryOfLocation('?view=decode&words=0x1+0x2', '')).toEqual({ query: 'view=decode&words=0x1+0x2' });
    expect(await queryOfLocation('?view=decode', '#section')).toEqual({ query: 'view=decode' });
    const packed = await packQuery('view=simulate');
    expect(await queryOfLocation('?view=decode', `#z=${packed}`)).toEqual({ query: 'view=simulate' });
  });

  it('a link longer than a browser accepts is flagged; one just within is not', async () => {
    const room = UrlMaxChars - base.length - 1;
    // Incompressible text: random base64url characters cost about six bits each.
    const noise = (n: number): string =>
      Array.from(
        randomBytes(n),
        (b) => 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'[b & 63],
      ).join('');
    const over = await linkFor(base, noise(room * 2));
    expect(over.kind).toBe('fragment');
    expect(over.tooLong).toBe(true);
    expect(over.length).toBeGreaterThan(UrlMaxChars);
    const within = await linkFor(base, noise(room / 2));
    expect(within.tooLong).toBe(false);
    expect(within.length).toBeLessThanOrEqual(UrlMaxChars);
  });

  it('a damaged fragment gives a message and the query-string state, never an exception', async () => {
    const good = deflateRawSync(Buffer.from('view=decode&words=0x1+0x2')).toString('base64url');
    const cases: [string, RegExp][] = [
      ['#z=***', /is not base64url text/],
      [`#z=${good.slice(0, 4)}`, /is not deflate-raw data/],
      ['#z=' + Buffer.from('not deflate at all, just text').toString('base64url'), /is not deflate-raw data/],
      ['#z=' + deflateRawSync(Buffer.from([0xff, 0xfe, 0x80])).toString('base64url'), /is not UTF-8 text/],
      // A bomb: 65 MiB of state from a short link.
      ['#z=' + deflateRawSync(Buffer.alloc(UnpackedMaxChars + 2 ** 20, 0x61)).toString('base64url'), /holds more than/],
    ];
    for (const [hash, why] of cases) {
      const r = await queryOfLocation('?view=plan', hash);
      expect(r.query, hash.slice(0, 20)).toBe('view=plan');
      expect(r.error, hash.slice(0, 20)).toMatch(why);
    }
    // Its clean twin opens without a message.
    expect(await queryOfLocation('?view=plan', `#z=${good}`)).toEqual({ query: 'view=decode&words=0x1+0x2' });
  });
});
