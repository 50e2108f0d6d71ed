/**
 * Issue 18 item 3: the JSON inputs of `plan` (the request), `encode` (the commands) and `pgtable` (the
 * script) go through their schemas (src/schema/defs/*-input.ts, compiled ahead of time). For each input an
 * unknown key, a duplicate key, a wrong type, out-of-range numbers and a missing required key are exit 2
 * with one stderr line naming the field and nothing on stdout; each bad document has a clean twin that
 * differs only there and runs (exit 0). The validators accept the examples and every document of the plan
 * and pgtable golden files; random edits of the documents (any value replaced, a key removed or added)
 * reach the parsers only as valid documents or end in a usage error, never in another exception.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { CommandBuffer, CommandEncodeError, commandFromJson, encodeCommand } from '../src/cmdq/index.js';
import { buildChecker } from '../src/cli/decode.js';
import { checkWords } from '../src/cli/encode.js';
import { parsePgtableScript } from '../src/cli/pgtable.js';
import { parsePlanRequest } from '../src/tlbi/index.js';
import { validate as validateEncode } from '../src/schema/generated/encode-input.js';
import { validate as validatePgtable } from '../src/schema/generated/pgtable-input.js';
import { validate as validatePlan } from '../src/schema/generated/plan-input.js';
import { checkAt, type Validator } from '../src/schema/validate.js';
import { InputError } from '../src/parse.js';
import { cli, ensureBuilt } from './cli-codec-helpers.js';

beforeAll(() => ensureBuilt(), 180_000);

type Doc = Record<string, unknown>;

const PLAN: Doc = {
  smmus: [{ id: 0, ril: true }],
  invs: [
    { smmu: 0, type: 'S1_ASID', id: 5 },
    { smmu: 0, type: 'ATS', id: 16, ssid: 3 },
  ],
  iova: '0x10000000',
  size: '0x21000',
  granule: 4096,
  leaf: true,
};
const TLBI: Doc = {
  smmus: [{ id: 0 }],
  invs: [{ smmu: 0, type: 'S1_ASID', id: 1 }],
  policy: 'tlbi',
  tlbi: { start: '0x200000', last: '0x3fffff', leafLevels: [3], tableLevels: [2], granule: 4096 },
};
const SYNC: Doc = { name: 'CMD_SYNC', fields: { cs: 2, msh: 3, msiattr: 15 } };
const NH_VA: Doc = { name: 'TLBI_NH_VA', fields: { asid: 1, tg: 1, ttl: 3, leaf: 1, addr: '0xffff6000' } };
const SCRIPT: Doc = {
  stage: 1,
  granule: 4096,
  ias: 48,
  ops: [
    { op: 'map', iova: '0x40000000', pa: '0x80000000', size: '2M', prot: { read: true, write: true } },
    { op: 'walk', iova: '0x40001000' },
    { op: 'unmap', iova: '0x40000000', size: '2M' },
  ],
};

/**
 * A copy of `doc` with each [path, value] set (`invs.0.asid`; undefined deletes), so that a bad document and
 * its twin share everything else.
 */
function edit(doc: Doc, ...changes: Array<[string, unknown]>): Doc {
  const d = structuredClone(doc);
  for (const [path, value] of changes) {
    const keys = path.split('.');
    let o = d as Record<string, unknown>;
    for (const k of keys.slice(0, -1)) o = o[k] as Record<string, unknown>;
    const last = keys[keys.length - 1]!;
    if (value === undefined) delete o[last];
    else o[last] = value;
  }
  return d;
}

interface Case {
  what: string;
  args: string[];
  /** The bad input (text, so that duplicate keys can be written). */
  bad: string;
  /** stderr's one line. */
  message: RegExp;
  /** The clean twin. */
  twin: string;
}

const j = (d: unknown): string => JSON.stringify(d);
const plan = ['plan', '--json'];
const encode = ['encode'];
const pgtable = ['pgtable', '--json'];

const cases: Case[] = [
  // ---- plan
  {
    what: 'plan: unknown key in a target',
    args: plan,
    bad: j(edit(PLAN, ['invs.0.asid', 7])),
    message: /^error: invs\[0\]\.asid: unknown key/,
    twin: j(edit(PLAN, ['invs.0.id', 7])),
  },
  {
    what: 'plan: unknown top-level key (a typo)',
    args: plan,
    bad: j(edit(PLAN, ['granul', 4096])),
    message: /^error: granul: unknown key \(did you mean granule\?\)$/,
    twin: j(PLAN),
  },
  {
    what: 'plan: duplicate key in a target',
    args: plan,
    bad: j(PLAN).replace('"id":5', '"id":5,"id":6'),
    message: /^error: stdin: invs\[0\]\.id: the key is given twice$/,
    twin: j(PLAN).replace('"id":5', '"id":6'),
  },
  {
    what: 'plan: wrong type (iova true)',
    args: plan,
    bad: j(edit(PLAN, ['iova', true])),
    message: /^error: iova: expected an address.*got true$/,
    twin: j(edit(PLAN, ['iova', 0x10000000])),
  },
  {
    what: 'plan: wrong type (smmus[0].ril a number other than 0/1)',
    args: plan,
    bad: j(edit(PLAN, ['smmus.0.ril', 2])),
    message: /^error: smmus\[0\]\.ril: expected true or false.*got 2$/,
    twin: j(edit(PLAN, ['smmus.0.ril', 0])),
  },
  {
    what: 'plan: unknown type',
    args: plan,
    bad: j(edit(PLAN, ['invs.0.type', 'S3_MAGIC'])),
    message: /^error: invs\[0\]\.type: unknown type "S3_MAGIC" \(expected S1_ASID, /,
    twin: j(edit(PLAN, ['invs.0.type', 'S2_VMID'])),
  },
  {
    what: 'plan: ASID 2^16 (a JSON number)',
    args: plan,
    bad: j(edit(PLAN, ['invs.0.id', 2 ** 16])),
    message: /^error: invs\[0\]\.id: ASID 65536 does not fit in 16 bits$/,
    twin: j(edit(PLAN, ['invs.0.id', 2 ** 16 - 1])),
  },
  {
    what: 'plan: ASID 2^16 (a hex string)',
    args: plan,
    bad: j(edit(PLAN, ['invs.0.id', '0x10000'])),
    message: /^error: invs\[0\]\.id: ASID 0x10000 does not fit in 16 bits$/,
    twin: j(edit(PLAN, ['invs.0.id', '0xffff'])),
  },
  {
    what: 'plan: VMID 2^16',
    args: plan,
    bad: j(edit(PLAN, ['invs.0.type', 'S1_ASID_NESTED'], ['invs.0.vmid', 2 ** 16])),
    message: /^error: invs\[0\]\.vmid: expected a VMID: an integer from 0 to 65535, got 65536$/,
    twin: j(edit(PLAN, ['invs.0.type', 'S1_ASID_NESTED'], ['invs.0.vmid', 2 ** 16 - 1])),
  },
  {
    what: 'plan: SubstreamID 2^20',
    args: plan,
    bad: j(edit(PLAN, ['invs.1.ssid', 2 ** 20])),
    message: /^error: invs\[1\]\.ssid: expected a SubstreamID: an integer from 0 to 1048575, got 1048576$/,
    twin: j(edit(PLAN, ['invs.1.ssid', 2 ** 20 - 1])),
  },
  {
    what: 'plan: SMMU id 2^16',
    args: plan,
    bad: j(edit(PLAN, ['smmus.0.id', 2 ** 16], ['invs.0.smmu', 2 ** 16], ['invs.1.smmu', 2 ** 16])),
    message: /^error: smmus\[0\]\.id: expected an SMMU id: an integer from 0 to 65535, got 65536$/,
    twin: j(edit(PLAN, ['smmus.0.id', 2 ** 16 - 1], ['invs.0.smmu', 2 ** 16 - 1], ['invs.1.smmu', 2 ** 16 - 1])),
  },
  {
    what: 'plan: iova at 2^52 (a JSON number)',
    args: plan,
    bad: j(edit(PLAN, ['iova', 2 ** 52], ['size', 4096])),
    message: /^error: iova: beyond 2\^52 \(52-bit addresses\)$/,
    twin: j(edit(PLAN, ['iova', 2 ** 52 - 4096], ['size', 4096])),
  },
  {
    what: 'plan: negative iova',
    args: plan,
    bad: j(edit(PLAN, ['iova', -4096])),
    message: /^error: iova: expected an address: a non-negative integer.*got -4096$/,
    twin: j(edit(PLAN, ['iova', 4096])),
  },
  {
    what: 'plan: non-integer size',
    args: plan,
    bad: j(edit(PLAN, ['size', 4096.5])),
    message: /^error: size: expected a size in bytes: a non-negative integer.*got 4096\.5$/,
    twin: j(edit(PLAN, ['size', 4096])),
  },
  {
    what: 'plan: a level above 3',
    args: plan,
    bad: j(edit(TLBI, ['tlbi.leafLevels', [4]])),
    message: /^error: tlbi\.leafLevels\[0\]: expected a level from 0 to 3, got 4$/,
    twin: j(edit(TLBI, ['tlbi.leafLevels', [3]])),
  },
  {
    what: 'plan: missing type of a target',
    args: plan,
    bad: j(edit(PLAN, ['invs.1.type', undefined])),
    message: /^error: invs\[1\]\.type: missing \(it is required\)$/,
    twin: j(PLAN),
  },
  {
    what: 'plan: missing tlbi.last',
    args: plan,
    bad: j(edit(TLBI, ['tlbi.last', undefined])),
    message: /^error: tlbi\.last: missing \(it is required\)$/,
    twin: j(TLBI),
  },
  {
    what: 'plan: missing invs',
    args: plan,
    bad: j(edit(PLAN, ['invs', undefined])),
    message: /^error: invs: missing \(it is required\)$/,
    twin: j(PLAN),
  },
  // ---- encode
  {
    what: 'encode: unknown key',
    args: encode,
    bad: j(edit(SYNC, ['feilds', {}])),
    message: /^error: stdin\[0\]\.feilds: unknown key \(did you mean fields\?\)$/,
    twin: j(edit(SYNC, ['fields', {}])),
  },
  {
    what: 'encode: unknown field of the command',
    args: encode,
    bad: j(edit(SYNC, ['fields.asid', 1])),
    message: /^error: stdin\[0\]\.fields\.asid: CMD_SYNC has no field asid/,
    twin: j(edit(SYNC, ['fields.msidata', 1])),
  },
  {
    what: 'encode: duplicate key',
    args: encode,
    bad: j(NH_VA).replace('"tg":1', '"tg":1,"tg":2'),
    message: /^error: stdin: fields\.tg: the key is given twice$/,
    twin: j(NH_VA).replace('"tg":1', '"tg":2'),
  },
  {
    what: 'encode: wrong type (a field true)',
    args: encode,
    bad: j(edit(NH_VA, ['fields.leaf', true])),
    message: /^error: stdin\[0\]\.fields\.leaf: expected a field value: a non-negative integer.*got true$/,
    twin: j(edit(NH_VA, ['fields.leaf', 1])),
  },
  {
    what: 'encode: wrong type (fields an array), in the second entry',
    args: encode,
    bad: j([NH_VA, edit(SYNC, ['fields', [2]])]),
    message: /^error: stdin\[1\]\.fields: expected an object of field values by name, got \[2\]$/,
    twin: j([NH_VA, SYNC]),
  },
  {
    what: 'encode: negative field value',
    args: encode,
    bad: j(edit(NH_VA, ['fields.asid', -1])),
    message: /^error: stdin\[0\]\.fields\.asid: expected a field value.*got -1$/,
    twin: j(edit(NH_VA, ['fields.asid', 0])),
  },
  {
    what: 'encode: non-integer field value',
    args: encode,
    bad: j(edit(NH_VA, ['fields.ttl', 2.5])),
    message: /^error: stdin\[0\]\.fields\.ttl: expected a field value.*got 2\.5$/,
    twin: j(edit(NH_VA, ['fields.ttl', 2])),
  },
  {
    what: 'encode: an address beyond 64 bits',
    args: encode,
    bad: j(edit(NH_VA, ['fields.addr', '0x1_0000_0000_0000_0000'])),
    message: /^error: stdin\[0\]\.fields\.addr: .*does not fit in 64 bits$/,
    twin: j(edit(NH_VA, ['fields.addr', '0xffff_ffff_ffff_f000'])),
  },
  {
    what: 'encode: opcode out of range',
    args: encode,
    bad: j(edit(SYNC, ['opcode', 256])),
    message: /^error: stdin\[0\]\.opcode: expected an opcode: an integer from 0 to 255, got 256$/,
    twin: j(edit(SYNC, ['opcode', 70])),
  },
  {
    what: 'encode: missing name',
    args: encode,
    bad: j(edit(SYNC, ['name', undefined])),
    message: /^error: stdin\[0\]\.name: missing \(it is required\)$/,
    twin: j(SYNC),
  },
  // ---- pgtable
  {
    what: 'pgtable: unknown key of an operation (walk has no size)',
    args: pgtable,
    bad: j(edit(SCRIPT, ['ops.1.size', '4K'])),
    message: /^error: stdin: ops\[1\]\.size: unknown key \(known: op, iova\)$/,
    twin: j(SCRIPT),
  },
  {
    what: 'pgtable: unknown key of a prot',
    args: pgtable,
    bad: j(edit(SCRIPT, ['ops.0.prot.rw', true])),
    message: /^error: stdin: ops\[0\]\.prot\.rw: unknown key/,
    twin: j(edit(SCRIPT, ['ops.0.prot.exec', true])),
  },
  {
    what: 'pgtable: duplicate key',
    args: pgtable,
    bad: j(SCRIPT).replace('"op":"walk"', '"op":"walk","op":"map"'),
    message: /^error: stdin: ops\[1\]\.op: the key is given twice$/,
    twin: j(SCRIPT),
  },
  {
    what: 'pgtable: wrong type (prot a number)',
    args: pgtable,
    bad: j(edit(SCRIPT, ['ops.0.prot', 6])),
    message: /^error: stdin: ops\[0\]\.prot: expected a prot: .*got 6$/,
    twin: j(edit(SCRIPT, ['ops.0.prot', 'rw'])),
  },
  {
    what: 'pgtable: wrong type (an operation that is not an object)',
    args: pgtable,
    bad: j(edit(SCRIPT, ['ops.3', 7])),
    message: /^error: stdin: ops\[3\]: expected an operation such as .*got 7$/,
    twin: j(edit(SCRIPT, ['ops.3', { op: 'walk', iova: 0 }])),
  },
  {
    what: 'pgtable: unknown op',
    args: pgtable,
    bad: j(edit(SCRIPT, ['ops.1.op', 'zap'])),
    message: /^error: stdin: ops\[1\]\.op: unknown op "zap" \(expected map, unmap, walk\)$/,
    twin: j(SCRIPT),
  },
  {
    what: 'pgtable: ias out of range',
    args: pgtable,
    bad: j(edit(SCRIPT, ['ias', 64])),
    message: /^error: stdin: ias: expected an input address size in bits: an integer from 32 to 48, got 64$/,
    twin: j(edit(SCRIPT, ['ias', 40])),
  },
  {
    what: 'pgtable: stage 3',
    args: pgtable,
    bad: j(edit(SCRIPT, ['stage', 3])),
    message: /^error: stdin: stage: expected a stage: an integer from 1 to 2, got 3$/,
    twin: j(edit(SCRIPT, ['stage', 2])),
  },
  {
    what: 'pgtable: an address at 2^52',
    args: pgtable,
    bad: j(edit(SCRIPT, ['ops.1.iova', 2 ** 52])),
    message: /^error: stdin: ops\[1\]\.iova: 0x10000000000000 is outside the 48-bit input address space$/,
    twin: j(edit(SCRIPT, ['ops.1.iova', 2 ** 48 - 1])),
  },
  {
    what: 'pgtable: negative size',
    args: pgtable,
    bad: j(edit(SCRIPT, ['ops.2.size', -4096])),
    message: /^error: stdin: ops\[2\]\.size: expected a size: a non-negative integer.*got -4096$/,
    twin: j(edit(SCRIPT, ['ops.2.size', 2 ** 21])),
  },
  {
    what: 'pgtable: non-integer iova',
    args: pgtable,
    bad: j(edit(SCRIPT, ['ops.1.iova', 0.5])),
    message: /^error: stdin: ops\[1\]\.iova: expected an input address: .*got 0\.5$/,
    twin: j(edit(SCRIPT, ['ops.1.iova', 0])),
  },
  {
    what: 'pgtable: missing pa of a map',
    args: pgtable,
    bad: j(edit(SCRIPT, ['ops.0.pa', undefined])),
    message: /^error: stdin: ops\[0\]\.pa: missing \(it is required\)$/,
    twin: j(SCRIPT),
  },
  {
    what: 'pgtable: missing op',
    args: pgtable,
    bad: j(edit(SCRIPT, ['ops.1.op', undefined])),
    message: /^error: stdin: ops\[1\]\.op: missing \(it is required\)$/,
    twin: j(SCRIPT),
  },
  {
    what: 'pgtable: missing ops',
    args: pgtable,
    bad: j(edit(SCRIPT, ['ops', undefined])),
    message: /^error: stdin: ops: missing \(it is required\)$/,
    twin: j(edit(SCRIPT, ['ops', []])),
  },
];

describe('bad JSON inputs: exit 2, one line naming the field, nothing on stdout; clean twins run', () => {
  for (const c of cases) {
    it(c.what, () => {
      const r = cli(c.args, c.bad);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stdout).toBe('');
      const lines = r.stderr.split('\n').filter((l) => l !== '');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(c.message);
      const t = cli(c.args, c.twin);
      expect(t.code, t.stderr).toBe(0);
      expect(t.stdout).not.toBe('');
    });
  }
});

describe('the input validators', () => {
  const root = new URL('../', import.meta.url);
  const read = (p: string): unknown => JSON.parse(readFileSync(new URL(p, root), 'utf8'));

  it('accept the examples (examples/cmds.json, examples/pgtable-script.json) and the documents above', () => {
    for (const c of read('examples/cmds.json') as unknown[]) expect(validateEncode(c), JSON.stringify(c)).toBe(true);
    expect(validatePgtable(read('examples/pgtable-script.json'))).toBe(true);
    for (const d of [PLAN, TLBI]) expect(validatePlan(d)).toBe(true);
    for (const d of [SYNC, NH_VA]) expect(validateEncode(d)).toBe(true);
    expect(validatePgtable(SCRIPT)).toBe(true);
  });

  it('checkAt names the field under the value (stdin[3].fields.cs), or the root name for the value itself', () => {
    const at = (v: Validator, d: unknown, where: string, root?: string): string => {
      try {
        checkAt(v, d, where, root);
      } catch (e) {
        expect(e).toBeInstanceOf(InputError);
        return (e as InputError).field;
      }
      return '';
    };
    expect(at(validateEncode as Validator, { name: 'CMD_SYNC', fields: { cs: null } }, 'stdin[3]')).toBe(
      'stdin[3].fields.cs',
    );
    expect(at(validateEncode as Validator, [1], 'stdin[3]')).toBe('stdin[3]');
    expect(at(validatePlan as Validator, { invs: [{ type: 'X' }] }, '', 'request')).toBe('invs[0].type');
    expect(at(validatePlan as Validator, 5, '', 'request')).toBe('request');
    expect(at(validatePlan as Validator, PLAN, '', 'request')).toBe('');
  });
});

/** Every path of a document (objects' keys and arrays' indexes), the document itself first. */
function paths(v: unknown, at: string[] = []): string[][] {
  const out = [at];
  if (v !== null && typeof v === 'object')
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) out.push(...paths(x, [...at, k]));
  return out;
}

/** `doc` with the value at one of its paths replaced (undefined: removed), or with a key added to an object. */
function mutated(doc: Doc, pick: number, value: unknown, addKey: string | null): unknown {
  const d = structuredClone(doc) as unknown;
  const all = paths(d);
  const path = all[pick % all.length]!;
  if (path.length === 0) return addKey === null ? value : d;
  let o = d as Record<string, unknown>;
  for (const k of path.slice(0, -1)) o = o[k] as Record<string, unknown>;
  const last = path[path.length - 1]!;
  const target = o[last];
  if (addKey !== null && target !== null && typeof target === 'object' && !Array.isArray(target))
    (target as Record<string, unknown>)[addKey] = value;
  else if (value === undefined) delete o[last];
  else o[last] = value;
  return d;
}

const edge = fc.constantFrom(
  undefined,
  null,
  -1,
  -0,
  0.5,
  2 ** 16,
  2 ** 20,
  2 ** 32,
  2 ** 52,
  Number.MAX_SAFE_INTEGER,
  '',
  ' ',
  '0x',
  '0x1_0000',
  '4K',
  '16384P',
  '0xffffffffffffffff',
  'maybe',
  'on',
  true,
  [],
  {},
  [3, 3],
  '__proto__',
);
const anEdit = fc.record({
  pick: fc.nat(),
  value: fc.oneof(edge, fc.jsonValue({ maxDepth: 2 })),
  addKey: fc.option(fc.constantFrom('x', 'op', 'id', 'size', 'constructor', '__proto__'), { nil: null }),
});

/** How many edited documents were accepted and refused (each property must see both). */
const seen = { accepted: 0, refused: 0 };

/** Run `f`; only an InputError (or `allowed`) may escape. */
function onlyInputErrors(f: () => void, allowed?: new (...a: never[]) => Error): void {
  try {
    f();
    seen.accepted++;
  } catch (e) {
    if (!(e instanceof InputError || (allowed !== undefined && e instanceof allowed))) throw e;
    seen.refused++;
  }
}

/** After a property: both outcomes happened (the edits are neither all harmless nor all fatal). */
function bothSeen(): void {
  expect(seen.accepted).toBeGreaterThan(10);
  expect(seen.refused).toBeGreaterThan(10);
  seen.accepted = 0;
  seen.refused = 0;
}

describe('random edits of the inputs: a usage error or a valid document, nothing else', () => {
  it('plan requests (schema, then parsePlanRequest)', () => {
    fc.assert(
      fc.property(fc.constantFrom(PLAN, TLBI), anEdit, (doc, e) => {
        const d = mutated(doc, e.pick, e.value, e.addKey);
        onlyInputErrors(() => parsePlanRequest(checkAt(validatePlan as Validator, d, '', 'request')));
      }),
      { numRuns: 400 },
    );
    bothSeen();
  });

  it('encode commands (schema, commandFromJson, the encoder, the words check)', () => {
    const checker = buildChecker({});
    const withWords = { ...NH_VA, words: ['0x0001000000000012', '0x00000000ffff6701'] };
    fc.assert(
      fc.property(fc.constantFrom(SYNC, NH_VA, withWords), anEdit, (doc, e) => {
        const d = mutated(doc, e.pick, e.value, e.addKey);
        onlyInputErrors(() => {
          const buf = new CommandBuffer(1);
          const c = commandFromJson(checkAt(validateEncode as Validator, d, 'stdin[0]'), 'stdin[0]');
          encodeCommand(c, buf.u32, buf.reserve(1), checker);
          checkWords(d, buf.u32, 0, 'stdin[0]');
        }, CommandEncodeError);
      }),
      { numRuns: 400 },
    );
    bothSeen();
  });

  it('pgtable scripts (schema, then parsePgtableScript)', () => {
    fc.assert(
      fc.property(anEdit, (e) => {
        const d = mutated(SCRIPT, e.pick, e.value, e.addKey);
        onlyInputErrors(() => {
          if (validatePgtable(d)) parsePgtableScript(d);
          else checkAt(validatePgtable as Validator, d, 'stdin');
        });
      }),
      { numRuns: 400 },
    );
    bothSeen();
  });
});
