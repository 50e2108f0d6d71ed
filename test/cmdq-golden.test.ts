/**
 * Golden vectors (test/golden/cmdq-vectors.json): hand-worked entries for every command, legal and illegal,
 * checked three ways — the decoder against the expected fields, the encoder against the expected words, and
 * the expected words against an independent BigInt layout reference (so a slip in the hand arithmetic or in
 * the codec both show up).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  COMMAND_NAMES,
  CommandChecker,
  CommandEncodeError,
  OPCODE_SPECS,
  commandFromJson,
  decodeHalves,
  encodeHalves,
  featuresFromIdRegs,
  fieldsToJson,
  withFeatures,
  type CommandName,
  type QueueKind,
  type SmmuFeatures,
} from '../src/cmdq/index.js';
import { entryHalves, hex16, refDecode, refEncode } from './cmdq-reference.js';

interface VectorOptions {
  features?: Partial<SmmuFeatures>;
  idr0?: string;
  idr3?: string;
  idr5?: string;
  queue?: QueueKind;
  lax?: boolean;
}
interface Expected {
  name?: CommandName;
  fields?: Record<string, number | string>;
  warnings?: { field: string; rule: string }[];
  illegal?: { field: string; rule: string };
}
interface Vector {
  words: [string, string];
  options?: VectorOptions;
  expect: Expected;
  command?: { name: CommandName; fields: Record<string, number | string> };
  note: string;
}

const doc = JSON.parse(readFileSync(new URL('./golden/cmdq-vectors.json', import.meta.url), 'utf8')) as {
  schemaVersion: number;
  vectors: Vector[];
};
const vectors = doc.vectors;

function checkerFor(o: VectorOptions | undefined): CommandChecker {
  let features: SmmuFeatures = withFeatures(o?.features);
  if (o?.idr0 !== undefined || o?.idr3 !== undefined || o?.idr5 !== undefined)
    features = featuresFromIdRegs({
      ...(o.idr0 !== undefined ? { idr0: Number(o.idr0) } : {}),
      ...(o.idr3 !== undefined ? { idr3: Number(o.idr3) } : {}),
      ...(o.idr5 !== undefined ? { idr5: Number(o.idr5) } : {}),
    });
  return new CommandChecker({ features, queue: o?.queue ?? 'non-secure', lax: o?.lax ?? false });
}

function label(v: Vector): string {
  const what = v.expect.name ?? `ILLEGAL ${v.expect.illegal?.field ?? '?'}`;
  const opts = v.options ? ` ${JSON.stringify(v.options)}` : '';
  return `${v.words.join(' ')} → ${what}${opts}: ${v.note}`;
}

/** Field values of the JSON shape as bigints (addresses are hex strings). */
function bigFields(fields: Record<string, number | string>): Record<string, bigint> {
  return Object.fromEntries(Object.entries(fields).map(([k, x]) => [k, BigInt(x)]));
}

const sortIssues = (xs: { field: string; rule: string }[]): { field: string; rule: string }[] =>
  xs.map((x) => ({ field: x.field, rule: x.rule })).sort((a, b) => (a.field + a.rule).localeCompare(b.field + b.rule));

describe('golden vectors: the file', () => {
  it('has schemaVersion 1 and at least three legal vectors for every one of the 25 commands', () => {
    expect(doc.schemaVersion).toBe(1);
    expect(COMMAND_NAMES).toHaveLength(25);
    for (const name of COMMAND_NAMES) {
      const n = vectors.filter((v) => v.expect.name === name).length;
      expect(n, name).toBeGreaterThanOrEqual(3);
    }
  });

  it('shows EL3_* and CFGI_VMS_PIDM illegal by default and legal with the right option', () => {
    for (const name of ['TLBI_EL3_ALL', 'TLBI_EL3_VA', 'CFGI_VMS_PIDM'] as const) {
      const illegalByDefault = vectors.filter(
        (v) => v.options === undefined && v.command?.name === name && v.expect.illegal?.rule === 'unsupported',
      );
      expect(illegalByDefault.length, name).toBeGreaterThan(0);
      const legalWithOption = vectors.filter((v) => v.expect.name === name && v.options !== undefined);
      expect(legalWithOption.length, name).toBeGreaterThanOrEqual(3);
    }
  });

  it('covers every CERROR_ILL case of the issue', () => {
    const ill = vectors.filter((v) => v.expect.illegal);
    const has = (pred: (v: Vector) => boolean, what: string): void => {
      expect(ill.some(pred), what).toBe(true);
    };
    const opcodeOf = (v: Vector): number => Number(BigInt(v.words[0]) & 0xffn);
    has((v) => v.expect.illegal!.rule === 'reserved-opcode' && opcodeOf(v) === 0, 'opcode 0x00');
    has((v) => v.expect.illegal!.rule === 'reserved-opcode' && opcodeOf(v) !== 0, 'another reserved opcode');
    has((v) => v.expect.illegal!.rule === 'ssec', 'SSec on the Non-secure queue');
    has(
      (v) => v.expect.illegal!.field === 'tg' && v.expect.illegal!.rule === 'reserved-value',
      'TG≠0, NUM=SCALE=TTL=0',
    );
    has((v) => v.expect.illegal!.field === 'ttl' && v.command?.fields.tg === 2, 'TG=16K TTL=1 without DS');
    has((v) => v.command?.name === 'ATC_INV' && v.expect.illegal!.field === 'size', 'ATC_INV Size > 52');
    has((v) => v.command?.name === 'CMD_SYNC' && v.expect.illegal!.field === 'cs', 'CMD_SYNC CS=3');
    has((v) => v.command?.name === 'PRI_RESP' && v.expect.illegal!.field === 'resp', 'PRI_RESP Resp=3');
    for (const f of ['num', 'scale', 'ttl'])
      has(
        (v) => v.expect.illegal!.field === f && v.expect.illegal!.rule === 'res0' && v.command?.fields.tg === 0,
        `TG=0, ${f}≠0`,
      );
    const feature = (k: keyof SmmuFeatures, val: unknown): ((v: Vector) => boolean) => {
      return (v) => v.options?.features?.[k] === val;
    };
    has(feature('stage1', false), 'no stage 1');
    has(feature('stage2', false), 'no stage 2');
    has(feature('ats', false), 'no ATS');
    has(feature('pri', false), 'no PRI');
    has(feature('hyp', false), 'no Hyp');
    has(feature('stallModel', 1), 'STALL_MODEL=1');
    has(feature('asid16', false), '8-bit ASID');
    has(feature('vmid16', false), '8-bit VMID');
    has((v) => v.expect.illegal!.field === 'scale' && v.expect.illegal!.rule === 'res0', 'SCALE bit 25 without DS');
    // Lax counterparts: the RES0 cases decode legal with a warning.
    expect(vectors.some((v) => v.options?.lax && v.expect.warnings?.some((w) => w.field === 'num'))).toBe(true);
    expect(vectors.some((v) => v.options?.lax && v.expect.warnings?.some((w) => w.field === 'scale'))).toBe(true);
  });
});

describe('golden vectors: decode', () => {
  it.each(vectors.map((v) => [label(v), v] as const))('%s', (_label, v) => {
    const [w0, w1] = [BigInt(v.words[0]), BigInt(v.words[1])];
    const h = entryHalves(w0, w1);
    const r = decodeHalves(...h, checkerFor(v.options));
    if (v.expect.illegal) {
      expect(r.ok).toBe(false);
      if (r.ok) return;
      expect(r.error.kind).toBe('ILLEGAL');
      expect({ field: r.error.field, rule: r.error.rule }).toEqual(v.expect.illegal);
      expect(r.opcode).toBe(Number(w0 & 0xffn));
      expect(r.error.reason.length).toBeGreaterThan(10);
      return;
    }
    expect(r.ok, r.ok ? '' : `${r.error.field}: ${r.error.reason}`).toBe(true);
    if (!r.ok) return;
    expect(r.command.name).toBe(v.expect.name);
    expect(fieldsToJson(r.command)).toEqual(v.expect.fields);
    expect(sortIssues([...r.warnings])).toEqual(sortIssues(v.expect.warnings ?? []));
    for (const w of r.warnings) expect(w.kind).toBe('WARNING');
  });
});

describe('golden vectors: encode', () => {
  const legal = vectors.filter((v) => v.expect.name !== undefined && !v.expect.warnings);
  it.each(legal.map((v) => [label(v), v] as const))('%s', (_label, v) => {
    const cmd = commandFromJson({ name: v.expect.name, fields: v.expect.fields });
    const h = encodeHalves(cmd, checkerFor(v.options));
    expect(h).toEqual(entryHalves(BigInt(v.words[0]), BigInt(v.words[1])));
  });

  const refused = vectors.filter((v) => v.command !== undefined);
  it.each(refused.map((v) => [label(v), v] as const))('refuses %s', (_label, v) => {
    const cmd = commandFromJson(v.command);
    let caught: unknown;
    try {
      encodeHalves(cmd, checkerFor(v.options));
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(CommandEncodeError);
    const issue = (caught as CommandEncodeError).issue;
    expect({ field: issue.field, rule: issue.rule }).toEqual(v.expect.illegal);
    expect((caught as Error).message).toContain(issue.field);
  });
});

describe('golden vectors: the hand-worked words agree with the BigInt reference layout', () => {
  it('every vector with fields encodes, in the reference, to exactly its words', () => {
    let n = 0;
    for (const v of vectors) {
      const named = v.expect.name !== undefined ? { name: v.expect.name, fields: v.expect.fields! } : v.command;
      if (!named) continue;
      const [w0, w1] = refEncode(named.name, bigFields(named.fields));
      const hasStray = (v.expect.warnings ?? []).some((w) => w.field.startsWith('w'));
      if (hasStray) continue; // words carry a RES0 bit no field expresses
      expect([hex16(w0), hex16(w1)], label(v)).toEqual(v.words);
      n++;
    }
    expect(n).toBeGreaterThan(120);
  });

  it('every legal vector decodes, in the reference, to its fields', () => {
    for (const v of vectors) {
      if (v.expect.name === undefined || (v.expect.warnings ?? []).some((w) => w.field.startsWith('w'))) continue;
      const d = refDecode(BigInt(v.words[0]), BigInt(v.words[1]));
      expect(d?.name, label(v)).toBe(v.expect.name);
      expect(d?.fields, label(v)).toEqual(bigFields(v.expect.fields!));
      expect(Object.keys(v.expect.fields!).sort()).toEqual(
        [
          ...OPCODE_SPECS[v.expect.name].fields.map((f) => f.name),
          ...(OPCODE_SPECS[v.expect.name].addr ? ['addr'] : []),
        ]
          .map((x) => (v.expect.name === 'CMD_SYNC' && x === 'addr' ? 'msiaddr' : x))
          .sort(),
      );
    }
  });
});
