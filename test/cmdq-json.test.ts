/**
 * The JSON edge of the codec: commands from user JSON (errors name the field), decode results in the
 * documented `decode --json` entry shape, and decode output accepted back as encode input.
 */
import { describe, expect, it } from 'vitest';
import {
  CommandChecker,
  commandFromJson,
  decodeHalves,
  decodedEntryToJson,
  encodeHalves,
  fieldsToJson,
  wordsToJson,
} from '../src/cmdq/index.js';
import { InputError } from '../src/parse.js';

describe('commandFromJson', () => {
  it('reads name and fields; numbers, 0x hex, size suffixes; omitted fields stay absent (encoded as 0)', () => {
    const c = commandFromJson({ name: 'TLBI_NH_VA', fields: { asid: '0x10', addr: '4K', tg: 1, ttl: 3 } });
    expect(c).toEqual({ name: 'TLBI_NH_VA', asid: 16, addr: 4096, tg: 1, ttl: 3 });
    expect(encodeHalves(c)).toEqual([0x12, 0x00100000, 0x1000 | 0x700, 0]);
  });

  it('takes a 64-bit VA above 2^53 exactly when it is 4 KiB aligned', () => {
    const c = commandFromJson({ name: 'TLBI_EL2_VA', fields: { addr: '0xffff800000001000', leaf: 1 } });
    expect(encodeHalves(c)).toEqual([0x22, 0, 0x1001, 0xffff8000]);
  });

  it.each([
    [null, 'entry: expected an object'],
    [[], 'entry: expected an object'],
    [{ name: 'NOPE' }, 'entry.name: unknown command name "NOPE"'],
    [{ name: 'toString' }, 'entry.name: unknown command name "toString"'],
    [{ name: 12 }, 'entry.name: unknown command name 12'],
    [{ name: 'CMD_SYNC', extra: 1 }, 'entry.extra: unknown key'],
    [{ name: 'CMD_SYNC', fields: [] }, 'entry.fields: expected an object'],
    [{ name: 'CMD_SYNC', fields: { asid: 1 } }, 'entry.fields.asid: CMD_SYNC has no field asid'],
    [{ name: 'CMD_SYNC', fields: { cs: -1 } }, 'entry.fields.cs: expected a non-negative integer'],
    [{ name: 'CMD_SYNC', fields: { cs: 'x' } }, 'entry.fields.cs: cannot parse "x"'],
    [{ name: 'CMD_SYNC', opcode: 0x12 }, 'entry.opcode: 18 does not match CMD_SYNC (70)'],
    [{ name: 'TLBI_NSNH_ALL', fields: { vmid: 1 } }, 'TLBI_NSNH_ALL has no field vmid (fields: none)'],
  ])('refuses %j with an error naming the field', (obj, message) => {
    expect(() => commandFromJson(obj)).toThrow(InputError);
    expect(() => commandFromJson(obj)).toThrow(message);
  });
});

describe('decodedEntryToJson', () => {
  it('a legal entry: index, name, opcode, fields (addresses as hex strings), words', () => {
    const h: [number, number, number, number] = [0x0fc01046, 0xdeadbeef, 0xf8900010, 0];
    expect(decodedEntryToJson(7, decodeHalves(...h), h)).toEqual({
      index: 7,
      name: 'CMD_SYNC',
      opcode: 0x46,
      fields: { cs: 1, msh: 3, msiattr: 15, msidata: 0xdeadbeef, msiaddr: '0xf8900010' },
      words: ['0xdeadbeef0fc01046', '0x00000000f8900010'],
    });
  });

  it('an illegal entry: index, opcode, error {kind, rule, field, value, reason, command}, words', () => {
    const h: [number, number, number, number] = [0x3046, 0, 0, 0];
    const j = decodedEntryToJson(0, decodeHalves(...h), h);
    expect(j).toEqual({
      index: 0,
      opcode: 0x46,
      error: {
        kind: 'ILLEGAL',
        rule: 'reserved-value',
        field: 'cs',
        value: 3,
        reason: expect.any(String),
        command: 'CMD_SYNC',
      },
      words: ['0x0000000000003046', '0x0000000000000000'],
    });
  });

  it('a reserved opcode has no command in its error', () => {
    const h: [number, number, number, number] = [0, 0, 0, 0];
    const j = decodedEntryToJson(3, decodeHalves(...h), h) as { error: Record<string, unknown> };
    expect(j.error).toEqual({
      kind: 'ILLEGAL',
      rule: 'reserved-opcode',
      field: 'opcode',
      value: 0,
      reason: expect.any(String),
    });
  });

  it('lax warnings are listed, and the whole entry is accepted back by commandFromJson', () => {
    const lax = new CommandChecker({ lax: true });
    const h: [number, number, number, number] = [0x00001012, 0x00010000, 0xffff6001, 0]; // TG=0 with NUM=1
    const r = decodeHalves(...h, lax);
    const j = decodedEntryToJson(0, r, h) as { warnings: { kind: string; field: string }[] };
    expect(j.warnings).toEqual([expect.objectContaining({ kind: 'WARNING', rule: 'res0', field: 'num', value: 1 })]);
    const again = encodeHalves(commandFromJson(JSON.parse(JSON.stringify(j))), lax);
    expect(again).toEqual(h);
  });

  it('fieldsToJson keeps table order; wordsToJson pads to 16 hex digits', () => {
    const r = decodeHalves(0x12, 0x00010000, 0xffff6701, 0);
    expect(r.ok && Object.keys(fieldsToJson(r.command))).toEqual([
      'num',
      'scale',
      'vmid',
      'asid',
      'leaf',
      'ttl',
      'tg',
      'addr',
    ]);
    expect(wordsToJson(1, 0, 0xffffffff, 0xffffffff)).toEqual(['0x0000000000000001', '0xffffffffffffffff']);
  });
});
