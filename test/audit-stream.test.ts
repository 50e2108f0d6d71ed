/**
 * The streamed audit (AuditSession fed a chunk at a time) gives the whole-input result: on the real samples (ring
 * dumps without registers, QEMU traces, byte chunks cut anywhere, even inside a UTF-8 character), and on random
 * streams checked with windows of any size. The whole-input result is the stream checked in one window.
 * Also: the nesting look-ahead of stdin, a batch too long for a window, and the findings and rows emitted as found.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AuditInputError,
  AuditSession,
  QemuTraceParser,
  WrittenSlotReader,
  auditStream,
  parseQemuTrace,
  readRing,
  reportToJson,
  type AuditReport,
  type AuditStream,
  type FindingJson,
  type ReplanRowJson,
  type SessionOptions,
} from '../src/audit/index.js';
import { MAX_WINDOW } from '../src/audit/session.js';
import { EntryAligner, TextLines } from '../src/cli/input.js';
import { atc, halvesOf, ipa, nhAll, nhAsid, s12, streamOf, sync, va, type Item } from './audit-helpers.js';

const SAMPLES = new URL('../samples/', import.meta.url);
const samples = readdirSync(SAMPLES, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(new URL(`${d.name}/cmdq.bin.gz`, SAMPLES)))
  .map((d) => d.name)
  .sort();
const read = (dir: string, f: string): Buffer => gunzipSync(readFileSync(new URL(`${dir}/${f}`, SAMPLES)));

/** The whole input checked in one window (no cut anywhere). */
const ONE_WINDOW = { window: 1 << 30, maxWindow: 1 << 30 };

const json = (r: AuditReport): unknown => JSON.parse(JSON.stringify(reportToJson(r)));

/** Cut `n` bytes at the given points (sorted, deduplicated, inside [1, n-1]). */
function pieces(buf: Uint8Array, cuts: number[]): Uint8Array[] {
  const at = [...new Set(cuts.map((c) => 1 + (c % Math.max(1, buf.length - 1))))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let p = 0;
  for (const c of at) {
    if (c <= p || c >= buf.length) continue;
    out.push(buf.subarray(p, c));
    p = c;
  }
  out.push(buf.subarray(p));
  return out;
}

/** Stream a trace's bytes through TextLines and the line parser into a session. */
function streamTrace(bytes: Uint8Array, cuts: number[], o: SessionOptions): AuditReport {
  const session = new AuditSession('qemu-trace', o);
  const parser = new QemuTraceParser(session);
  const lines = new TextLines('trace', (line) => parser.line(line));
  for (const c of pieces(bytes, cuts)) lines.pushBytes(c);
  lines.end();
  const stats = parser.end();
  return session.end({ trace: stats });
}

/** Stream a dump's bytes (no registers) through EntryAligner and WrittenSlotReader into a session. */
function streamDump(bytes: Uint8Array, cuts: number[], o: SessionOptions, knownSize: boolean): AuditReport {
  const session = new AuditSession('dump', o);
  const reader = new WrittenSlotReader(session, knownSize ? bytes.length / 16 : null);
  const al = new EntryAligner();
  for (const c of pieces(bytes, cuts)) reader.push(al.push(c));
  reader.end();
  return session.end();
}

describe.each(samples)('sample %s streamed', (dir) => {
  const dump = new Uint8Array(read(dir, 'cmdq.bin.gz'));
  const text = read(dir, 'qemu-trace.log.gz');
  const whole = parseQemuTrace(text.toString('utf8'));
  const traceNested = auditStream(whole.stream, { replan: false }).input.nestedVmids;
  const traceWhole = json(auditStream(whole.stream, { ...ONE_WINDOW, trace: whole.stats }));
  const dumpStream = readRing(dump);
  const dumpWhole = json(auditStream(dumpStream, ONE_WINDOW));

  it('trace: chunks cut anywhere and small windows give the whole-input report', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 12 }), fc.integer({ min: 64, max: 4096 }), (cuts, window) => {
        const rep = streamTrace(text, cuts, { window, nestedVmids: traceNested, nestedInferred: true });
        expect(json(rep)).toEqual(traceWhole);
      }),
      { numRuns: 4 },
    );
  });
  it('dump: chunks cut anywhere and small windows give the whole-input report', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 12 }), fc.integer({ min: 16, max: 4096 }), (cuts, window) => {
        const nested = auditStream(dumpStream, { replan: false }).input.nestedVmids;
        const rep = streamDump(dump, cuts, { window, nestedVmids: nested, nestedInferred: true }, true);
        expect(json(rep)).toEqual(dumpWhole);
      }),
      { numRuns: 4 },
    );
  });
  it('stdin (auto, look-ahead): the same report when the look-ahead holds the nesting evidence', () => {
    const rep = streamTrace(text, [], { window: 512, lookahead: 1 << 20 });
    expect(json(rep)).toEqual(traceWhole);
  });
});

/** Random streams over a few targets, with every kind of finding possible. */
const item: fc.Arbitrary<Item> = fc.oneof(
  { weight: 4, arbitrary: fc.constant(sync()) },
  {
    weight: 6,
    arbitrary: fc
      .tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 2 }))
      .map(([asid, page, scale]) => va(asid, 0x100000 + page * 0x1000, { scale, ttl: scale === 0 ? 3 : 0 })),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 0, max: 7 }))
      .map(([vmid, page]) => ipa(vmid, 0x40000000 + page * 0x1000)),
  },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 3 }).map((v) => nhAll(v)) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 3 }).map((a) => nhAsid(a)) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 3 }).map((v) => s12(v)) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 4 }).map((s) => atc(s)) },
  { weight: 1, arbitrary: fc.constant<Item>([0xff, 0, 0, 0]) }, // a reserved opcode
);

function sessionOf(s: AuditStream, o: SessionOptions, found?: FindingJson[], rows?: ReplanRowJson[]): AuditReport {
  const session = new AuditSession(s.source, {
    ...o,
    ...(found ? { onFinding: (f: FindingJson) => void found.push(f) } : {}),
    ...(rows ? { onRow: (r: ReplanRowJson) => void rows.push(r) } : {}),
  });
  session.pushStream(s);
  return session.end();
}

describe('random streams', () => {
  it('any window size gives the one-window report, and emits every finding and row once', () => {
    fc.assert(
      fc.property(
        fc.array(item, { minLength: 1, maxLength: 120 }),
        fc.integer({ min: 1, max: 40 }),
        fc.constantFrom(undefined, 63, 2),
        (items, window, maxBatch) => {
          const s = streamOf(...items);
          const o = { maxBatch, nestedVmids: [1, 2] };
          const whole = auditStream(s, { ...o, ...ONE_WINDOW });
          const found: FindingJson[] = [];
          const rows: ReplanRowJson[] = [];
          const rep = sessionOf(s, { ...o, window, maxWindow: 1 << 20 }, found, rows);
          expect(json(rep)).toEqual(json(whole));
          const key = (f: FindingJson): string => `${f.index}:${f.rule}:${f.message}`;
          expect(found.map(key).sort()).toEqual(whole.findings.map(key).sort());
          expect(rows).toEqual((reportToJson(whole).replan as { rows: unknown[] }).rows);
        },
      ),
      { numRuns: 150 },
    );
  });
  it('keeps only the first findings and differing rows when asked, with the same counts', () => {
    fc.assert(
      fc.property(
        fc.array(item, { minLength: 1, maxLength: 120 }),
        fc.integer({ min: 1, max: 20 }),
        (items, window) => {
          const s = streamOf(...items);
          const whole = auditStream(s, { nestedVmids: [1], ...ONE_WINDOW });
          const rep = sessionOf(s, { nestedVmids: [1], window, keepFindings: 3, keepRows: 2 });
          expect(rep.counts).toEqual(whole.counts);
          expect(rep.findings).toEqual(whole.findings.slice(0, 3));
          expect(rep.replan!.rows).toEqual(whole.replan!.rows.filter((r) => !r.identical).slice(0, 2));
          expect(rep.histograms).toEqual(whole.histograms);
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('nesting look-ahead (stdin)', () => {
  // VMID 2 is used by S2_IPA and NH_ALL: nested. The evidence comes after 40 entries of unrelated TLBIs.
  const filler: Item[] = [];
  for (let k = 0; k < 20; k++) filler.push(va(1, 0x1000 * (k + 1)), sync());
  const late = streamOf(...filler, ipa(2, 0x40000000), sync(), nhAll(2), sync());
  it('a look-ahead that holds the evidence infers the whole stream’s list', () => {
    const rep = sessionOf(late, { window: 8, lookahead: 64 });
    expect(rep.input.nestedVmids).toEqual([2]);
    expect(rep.input.nestedVmidsInferred).toBe(true);
    expect(json(rep)).toEqual(json(auditStream(late, ONE_WINDOW)));
  });
  it('evidence past the look-ahead is a usage error naming --nested-vmids and the list to give', () => {
    const run = (): AuditReport => sessionOf(late, { window: 8, lookahead: 16 });
    expect(run).toThrow(AuditInputError);
    expect(run).toThrow(/--nested-vmids.*give --nested-vmids 2/);
  });
  it('clean twin: the same stream with the list given needs no look-ahead', () => {
    const rep = sessionOf(late, { window: 8, lookahead: 16, nestedVmids: [2] });
    expect(rep.input.nestedVmids).toEqual([2]);
    expect(rep.input.nestedVmidsInferred).toBe(false);
    expect(rep.counts.findings).toBe(0);
  });
});

describe('a batch longer than a window', () => {
  const long: Item[] = [];
  for (let k = 0; k < 50; k++) long.push(va(1, 0x1000 * (k + 1)));
  it('is checked in pieces, with a note, and every entry counted once', () => {
    const s = streamOf(...long, sync());
    const rep = sessionOf(s, { window: 8, maxWindow: 16, nestedVmids: [] });
    expect(rep.input.notes.some((n) => /checked in pieces of 16/.test(n))).toBe(true);
    expect(rep.input.entries).toBe(51);
    expect(rep.counts.byCommand).toEqual({ TLBI_NH_VA: 50, CMD_SYNC: 1 });
  });
  it('clean twin: with a CMD_SYNC every 10 commands no piece is needed', () => {
    const items: Item[] = [];
    long.forEach((x, k) => items.push(x, ...(k % 10 === 9 ? [sync()] : [])));
    const rep = sessionOf(streamOf(...items), { window: 8, maxWindow: 16, nestedVmids: [] });
    expect(rep.input.notes).toEqual([]);
    expect(json(rep)).toEqual(json(auditStream(streamOf(...items), { nestedVmids: [], ...ONE_WINDOW })));
  });
});

describe('the default window bound (MAX_WINDOW, 2^16 entries): a long run without CMD_SYNC is cut', () => {
  // Bounded memory on dumps of random words (every entry a finding): a window holds at most 2^16 entries.
  const run = (syncEvery: number) => {
    const items: Item[] = [];
    for (let k = 0; k < MAX_WINDOW + 5000; k++)
      items.push(va(1, 0x1000 * (k + 1)), ...((k + 1) % syncEvery === 0 ? [sync()] : []));
    return sessionOf(streamOf(...items, sync()), { nestedVmids: [] });
  };
  it(`${MAX_WINDOW + 5000} commands without a CMD_SYNC are checked in pieces of ${MAX_WINDOW}, with the note`, () => {
    const rep = run(Infinity);
    expect(rep.input.notes.some((n) => n.includes(`checked in pieces of ${MAX_WINDOW}`))).toBe(true);
    expect(rep.counts.byCommand.TLBI_NH_VA).toBe(MAX_WINDOW + 5000);
  });
  it('clean twin: a CMD_SYNC every 64 commands needs no piece', () => {
    const rep = run(64);
    expect(rep.input.notes).toEqual([]);
  });
});

describe('a dump of unknown size (stdin, gzip) without registers', () => {
  it('reads the entries of the known-size dump and says when MSI-overwritten SYNCs could not be recognised', () => {
    // A 4-slot ring: a TLBI, and a CMD_SYNC at slot 1 whose first word its MSI write zeroed (MSIAddr = slot 1).
    const u = halvesOf([va(1, 0x1000), sync(), va(1, 0x2000), sync()]);
    u[4] = 0;
    u[5] = 0;
    u[6] = 0x10000010; // MSIAddr = base 0x10000000 + slot 1 × 16
    u[7] = 0;
    const bytes = new Uint8Array(u.buffer);
    const known = streamDump(bytes, [], { nestedVmids: [] }, true);
    const unknown = streamDump(bytes, [], { nestedVmids: [] }, false);
    expect(known.counts.byCommand).toEqual({ TLBI_NH_VA: 2, CMD_SYNC: 2 });
    expect(unknown.input.notes.some((n) => /1 entries look like CMD_SYNCs overwritten/.test(n))).toBe(true);
    expect(known.input.notes.some((n) => /overwritten/.test(n))).toBe(false);
  });
});
