/**
 * Issue 18 item 3 at the command line: every value is checked once, and a bad one is exit 2 with one
 * stderr line naming the field (red-team rows N*, J*, S* of the "2 stderr lines" and silent-guess kinds).
 * Each bad case has a clean twin that differs only in the value and is not a usage error.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { cli, ensureBuilt } from './cli-codec-helpers.js';

const S = 'samples/linux-6.1-qemu-7.2-strict/';
const REGS = `${S}cmdq.json`;
const DUMP = `${S}cmdq.bin.gz`;

beforeAll(() => ensureBuilt());

interface Case {
  row: string;
  bad: string[];
  stdin?: string;
  /** stderr's one line */
  message: RegExp;
  twin: string[];
  twinStdin?: string;
}

const cases: Case[] = [
  {
    row: 'N59',
    bad: ['decode', '--sample', '--features', 'constructor'],
    message: /--features: unknown feature "constructor"/,
    twin: ['decode', '--sample', '--features', 'ril'],
  },
  {
    row: 'N60',
    bad: ['decode', '--sample', '--features', '__proto__'],
    message: /--features: unknown feature "__proto__"/,
    twin: ['decode', '--sample', '--features', 'no-ril'],
  },
  {
    row: 'N61',
    bad: ['decode', '--sample', '--features', 'no-toString'],
    message: /--features: unknown feature "no-toString"/,
    twin: ['decode', '--sample', '--features', 'no-ats'],
  },
  {
    row: 'N62',
    bad: ['decode', '--sample', '--features', 'hasOwnProperty'],
    message: /--features: unknown feature/,
    twin: ['decode', '--sample', '--features', 'ats'],
  },
  {
    row: 'N51',
    bad: ['decode', '--sample', '--idr0', '0x100000000'],
    message: /--idr0: "0x100000000" is out of range \(0 to 4294967295\)/,
    twin: ['decode', '--sample', '--idr0', '0xd40101a'],
  },
  {
    row: 'N84',
    bad: ['audit', '--file', DUMP, '--regs', REGS, '--idr1', '0x10000000000', '--no-replan'],
    message: /--idr1: "0x10000000000" is out of range/,
    twin: ['audit', '--file', DUMP, '--regs', REGS, '--idr1', '0x2730010', '--no-replan'],
  },
  {
    row: 'N75',
    bad: ['audit', '--sample', '--ipa-bits', '1000', '--no-replan'],
    message: /--ipa-bits: "1000" is out of range \(16 to 52\)/,
    twin: ['audit', '--sample', '--ipa-bits', '48', '--no-replan'],
  },
  {
    row: 'N77',
    bad: ['audit', '--sample', '--va-bits', '99', '--no-replan'],
    message: /--va-bits: "99" is out of range/,
    twin: ['audit', '--sample', '--va-bits', '48', '--no-replan'],
  },
  {
    row: 'N78',
    bad: ['audit', '--sample', '--page-size', '3'],
    message: /--page-size: "3" must be one of 4K, 16K, 64K/,
    twin: ['audit', '--sample', '--page-size', '16K'],
  },
  {
    row: 'N79',
    bad: ['audit', '--sample', '--page-size', '0'],
    message: /--page-size: "0" must be one of/,
    twin: ['audit', '--sample', '--page-size', '4K'],
  },
  {
    row: 'N71',
    bad: ['audit', '--file', DUMP, '--log2size', '20'],
    message: /--log2size: "20" is out of range \(0 to 19\)/,
    twin: ['audit', '--file', DUMP, '--log2size', '16', '--prod', '0x4585', '--no-replan'],
  },
  {
    row: 'N09',
    bad: ['plan', '--iova', '0xfffffffffffff000', '--size', '0x2000'],
    message: /^error: iova: beyond 2\^52/,
    twin: ['plan', '--iova', '0xffffffffe000', '--size', '0x2000'],
  },
  {
    row: 'N25',
    bad: ['plan', '--iova', '0x1000', '--size', '0xfffffffffffff000'],
    message: /^error: size: the range ends beyond 2\^52/,
    twin: ['plan', '--iova', '0x1000', '--size', '0xfff000'],
  },
  {
    row: 'N41',
    bad: ['plan', '--iova', '0', '--size', '4K', '--smmu', '9007199254740992'],
    message: /smmu: "9007199254740992" is out of range \(0 to 4294967295\)/,
    twin: ['plan', '--iova', '0', '--size', '4K', '--smmu', '7'],
  },
  {
    row: 'N46',
    bad: ['plan', '--iova', '0x10\n00', '--size', '4K'],
    message: /cannot parse "0x10\\n00"/,
    twin: ['plan', '--iova', '0x1000', '--size', '4K'],
  },
  {
    row: 'N01',
    bad: ['plan', '--iova', '-1', '--size', '4K'],
    message: /iova: cannot parse "-1"/,
    twin: ['plan', '--iova', '0x1000', '--size', '4K'],
  },
  {
    row: 'N91',
    bad: ['serve', '--port', '65536'],
    message: /--port: "65536" is out of range \(0 to 65535\)/,
    twin: ['serve', '--help'],
  },
  { row: 'M06', bad: ['bogus'], message: /^error: unknown command 'bogus'/, twin: ['--help'] },
  { row: 'M09', bad: ['decode', '--file'], message: /argument missing/, twin: ['decode', '--file', DUMP] },
  {
    row: 'S05',
    bad: ['simulate', '--no-progress', '--smmus', '10000'],
    message: /--smmus must be from 1 to 16/,
    twin: ['simulate', '--no-progress', '--smmus', '2', '--ops', '20', '--seed', '1'],
  },
  {
    row: 'J90',
    bad: ['plan', '--json'],
    stdin:
      '{"smmus":[{"id":0,"ril":true}],"invs":[{"smmu":0,"type":"S1_ASID","id":5}],"iova":"0x10000000","size":"0x21000","granule":4096,"leaf":true,"size":"0x1000"}',
    message: /^error: stdin: size: the key is given twice$/,
    twin: ['plan', '--json'],
    twinStdin:
      '{"smmus":[{"id":0,"ril":true}],"invs":[{"smmu":0,"type":"S1_ASID","id":5}],"iova":"0x10000000","size":"0x21000","granule":4096,"leaf":true}',
  },
  {
    row: 'J91',
    bad: ['encode'],
    stdin: '{"name":"TLBI_NH_ASID","fields":{"asid":1,"asid":2}}',
    message: /^error: stdin: fields\.asid: the key is given twice$/,
    twin: ['encode'],
    twinStdin: '{"name":"TLBI_NH_ASID","fields":{"asid":2}}',
  },
  {
    row: 'J92',
    bad: ['pgtable', '--json'],
    stdin: '{"stage":1,"granule":4096,"ias":48,"ops":[{"op":"walk","op":"map","iova":0,"pa":0,"size":"4K"}]}',
    message: /^error: stdin: ops\[0\]\.op: the key is given twice$/,
    twin: ['pgtable', '--json'],
    twinStdin: '{"stage":1,"granule":4096,"ias":48,"ops":[{"op":"map","iova":0,"pa":0,"size":"4K"}]}',
  },
  {
    row: 'J84',
    bad: ['audit', '--file', DUMP, '--regs', '{"CMDQ_PRODD":"0x4585","CMDQ_CONS":"0x4585","log2size":16}'],
    message: /^error: --regs: CMDQ_PRODD: unknown key \(did you mean CMDQ_PROD\?\)$/,
    twin: [
      'audit',
      '--file',
      DUMP,
      '--regs',
      '{"CMDQ_PROD":"0x4585","CMDQ_CONS":"0x4585","log2size":16}',
      '--no-replan',
    ],
  },
  {
    row: 'J113',
    bad: ['audit', '--file', DUMP, '--regs', '{"CMDQ_BASE":"4170186768","CMDQ_PROD":"0x4585","CMDQ_CONS":"0x4585"}'],
    message: /^error: --regs: CMDQ_BASE: expected a 64-bit value/,
    twin: [
      'audit',
      '--file',
      DUMP,
      '--regs',
      '{"CMDQ_BASE":4170186768,"CMDQ_PROD":"0x4585","CMDQ_CONS":"0x4585"}',
      '--no-replan',
    ],
  },
  {
    row: 'J115',
    bad: ['audit', '--file', DUMP, '--regs', '{"CMDQ_BASE":"0xf890000a","log2size":16,"CMDQ_PROD":"0x4585"}'],
    message: /^error: --regs: log2size: 16 disagrees with CMDQ_BASE\.LOG2SIZE = 10$/,
    twin: [
      'audit',
      '--file',
      DUMP,
      '--regs',
      '{"CMDQ_BASE":"0xf8900010","log2size":16,"CMDQ_PROD":"0x4585"}',
      '--no-replan',
    ],
  },
  {
    row: 'J117',
    bad: ['audit', '--file', DUMP, '--regs', '{"IDR0":"0x1000000000","CMDQ_PROD":"0x4585","log2size":16}'],
    message: /^error: --regs: IDR0: expected a 32-bit value/,
    twin: ['audit', '--file', DUMP, '--regs', '{"IDR0":"0xd40101a","CMDQ_PROD":"0x4585","log2size":16}', '--no-replan'],
  },
  {
    row: 'J114',
    bad: ['audit', '--file', DUMP, '--regs', '{"CMDQ_BASE":null,"CMDQ_PROD":"0x4585"}'],
    message: /^error: --regs: CMDQ_BASE: expected a 64-bit value.*got null$/,
    twin: ['audit', '--file', DUMP, '--regs', '{"CMDQ_BASE":"0x10","CMDQ_PROD":"0x4585"}', '--no-replan'],
  },
  {
    row: 'J17',
    bad: ['audit', '--file', DUMP, '--regs', `{"a":${'{"a":'.repeat(100)}1${'}'.repeat(100)}}`],
    message: /^error: --regs: (a\.)+a: nested deeper than 64 levels$/,
    twin: ['audit', '--file', DUMP, '--regs', '{"log2size":16,"CMDQ_PROD":"0x4585"}', '--no-replan'],
  },
];

describe('bad values: exit 2, one line naming the field; clean twins are not usage errors', () => {
  for (const c of cases) {
    it(`${c.row}: ${c.bad.join(' ').slice(0, 90)}`, () => {
      const r = cli(c.bad, c.stdin);
      expect(r.code).toBe(2);
      const lines = r.stderr.split('\n').filter((l) => l !== '');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(c.message);
      const t = cli(c.twin, c.twinStdin);
      expect(t.code, t.stderr).not.toBe(2);
      expect(t.code).not.toBe(3);
    });
  }
});
