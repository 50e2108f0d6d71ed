/**
 * Rebuilding command streams from QEMU traces in every accepted line format. The traces are produced here by
 * a small independent model of what QEMU prints (its power-of-two chunk split of a range, written with
 * BigInt), from commands encoded by the codec; the rebuilt entries must equal the encoded ones.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AuditInputError, auditStream, canonicalNumScale, parseQemuTrace } from '../src/audit/index.js';
import { halvesOf, va } from './audit-helpers.js';

type Format = 'log' | 'timestamp' | 'simple' | 'ftrace';

/** One trace event line in a given format; `args` in the order QEMU declares them. */
function line(fmt: Format, event: string, logPayload: string, args: [string, number | string][]): string {
  switch (fmt) {
    case 'log':
      return `${event} ${logPayload}`;
    case 'timestamp':
      return `4242@1700000000.123456:${event} ${logPayload}`;
    case 'ftrace':
      return `qemu-system-aar-4242 [001] ..... 12.345678: ${event}: ${logPayload}`;
    case 'simple':
      return [
        event,
        '1.250',
        'pid=4242',
        ...args.map(([k, v]) =>
          typeof v === 'string' ? `${k}=${v}` : `${k}=0x${BigInt.asUintN(64, BigInt(v)).toString(16)}`,
        ),
      ].join(' ');
  }
}

/** QEMU's split of [addr, addr + pages × granule) into naturally aligned power-of-two chunks. */
function chunks(addr: bigint, pages: bigint, granuleShift: bigint): [bigint, bigint][] {
  const out: [bigint, bigint][] = [];
  const end = addr + (pages << granuleShift) - 1n;
  let a = addr;
  while (a !== end + 1n) {
    // Largest 2^k - 1 mask with a aligned to 2^k and a + mask <= end.
    let k = 0n;
    while (((a >> k) & 1n) === 0n && a + (1n << (k + 1n)) - 1n <= end && k < 63n) k++;
    const size = 1n << k;
    out.push([a, size >> granuleShift]);
    a += size;
  }
  return out;
}

interface Cmd {
  kind: 'va' | 'sync' | 'asid';
  asid: number;
  addr: bigint;
  num: number;
  scale: number;
  ttl: number;
  leaf: number;
}

function traceOf(cmds: Cmd[], fmt: Format): string {
  const L: string[] = [];
  cmds.forEach((c, slot) => {
    L.push(
      line(fmt, 'smmuv3_cmdq_consume', `prod=${cmds.length} cons=${slot} prod.wrap=0 cons.wrap=0`, [
        ['prod', cmds.length],
        ['cons', slot],
        ['prod_wrap', 0],
        ['cons_wrap', 0],
      ]),
    );
    const name =
      c.kind === 'sync' ? 'SMMU_CMD_SYNC' : c.kind === 'asid' ? 'SMMU_CMD_TLBI_NH_ASID' : 'SMMU_CMD_TLBI_NH_VA';
    L.push(line(fmt, 'smmuv3_cmdq_opcode', `<--- ${name}`, [['opcode', name]]));
    if (c.kind === 'asid') L.push(line(fmt, 'smmuv3_cmdq_tlbi_nh_asid', `asid=${c.asid}`, [['asid', c.asid]]));
    if (c.kind === 'va') {
      const pages = BigInt((c.num + 1) * 2 ** c.scale);
      for (const [a, n] of chunks(c.addr, pages, 12n))
        L.push(
          line(
            fmt,
            'smmuv3_s1_range_inval',
            `vmid=0 asid=${c.asid} addr=0x${a.toString(16)} tg=1 num_pages=0x${n.toString(16)} ttl=${c.ttl} leaf=${c.leaf}`,
            [
              ['vmid', 0],
              ['asid', c.asid],
              ['addr', `0x${a.toString(16)}`],
              ['tg', 1],
              ['num_pages', Number(n)],
              ['ttl', c.ttl],
              ['leaf', c.leaf],
            ],
          ),
        );
      L.push('qemu-system-aarch64: some unrelated warning');
    }
  });
  return L.join('\n') + '\n';
}

function encoded(cmds: Cmd[]): Uint32Array {
  return halvesOf(
    cmds.map((c) =>
      c.kind === 'sync'
        ? ([0x46, 0, 0, 0] as const)
        : c.kind === 'asid'
          ? ([0x11, c.asid << 16, 0, 0] as const)
          : va(c.asid, Number(c.addr), { num: c.num, scale: c.scale, ttl: c.ttl, leaf: c.leaf }),
    ),
  );
}

const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  fc.record({
    kind: fc.constant<'va'>('va'),
    asid: fc.integer({ min: 0, max: 0xffff }),
    addr: fc.bigInt({ min: 0n, max: (1n << 36n) - 1n }).map((x) => x << 12n),
    num: fc.integer({ min: 0, max: 31 }),
    scale: fc.integer({ min: 0, max: 12 }),
    ttl: fc.constantFrom(1, 2, 3),
    leaf: fc.integer({ min: 0, max: 1 }),
  }),
  fc.constant<Cmd>({ kind: 'sync', asid: 0, addr: 0n, num: 0, scale: 0, ttl: 0, leaf: 0 }),
  fc
    .integer({ min: 0, max: 0xffff })
    .map<Cmd>((asid) => ({ kind: 'asid', asid, addr: 0n, num: 0, scale: 0, ttl: 0, leaf: 0 })),
);

/** Canonical form: SCALE = lowest set bit of the page count (what Linux emits). */
function canonical(c: Cmd): Cmd {
  if (c.kind !== 'va') return c;
  const ns = canonicalNumScale((c.num + 1) * 2 ** c.scale);
  return { ...c, num: ns.num, scale: ns.scale };
}

describe('trace line formats', () => {
  for (const fmt of ['log', 'timestamp', 'simple', 'ftrace'] as const)
    it(`rebuilds the stream from the ${fmt} format`, () => {
      fc.assert(
        fc.property(fc.array(cmdArb, { minLength: 1, maxLength: 12 }), (raw) => {
          const cmds = raw.map(canonical);
          const { stream, stats } = parseQemuTrace(traceOf(cmds, fmt));
          expect(Array.from(stream.halves.subarray(0, stream.count * 4))).toEqual(Array.from(encoded(cmds)));
          expect(Array.from(stream.slot.subarray(0, stream.count))).toEqual(cmds.map((_, k) => k));
          expect(stats.unknownLines).toBe(cmds.filter((c) => c.kind === 'va').length);
        }),
        { numRuns: 60 },
      );
    });
  it('tells which NUM/SCALE splits it cannot know', () => {
    const { stats } = parseQemuTrace(
      traceOf([{ kind: 'va', asid: 1, addr: 0x100000n, num: 1, scale: 3, ttl: 3, leaf: 1 }], 'log'),
    );
    expect(stats.numScaleAmbiguous).toBe(1); // 16 pages: NUM=0/SCALE=4, NUM=1/SCALE=3, … NUM=15/SCALE=0
  });
  it('refuses a binary simple-backend file with the command that converts it', () => {
    expect(() => parseQemuTrace('\u0000\u0000\u0000\u0000binary')).toThrow(/simpletrace\.py/);
    expect(() => parseQemuTrace('\u0000')).toThrow(AuditInputError);
  });
  it('refuses a file with no command events, and counts unknown lines otherwise', () => {
    expect(() => parseQemuTrace('hello\nworld\n')).toThrow(/line 1: .*-trace 'smmuv3_\*'/);
    const { stats } = parseQemuTrace(
      'junk\n' + traceOf([{ kind: 'sync', asid: 0, addr: 0n, num: 0, scale: 0, ttl: 0, leaf: 0 }], 'log'),
    );
    expect(stats).toMatchObject({ unknownLines: 1, firstUnknownLine: 1 });
  });
  it('blames the command QEMU raised an error on, and reports an UNKNOWN opcode as illegal', () => {
    const text = [
      'smmuv3_cmdq_consume prod=2 cons=0 prod.wrap=0 cons.wrap=0',
      'smmuv3_cmdq_opcode <--- UNKNOWN',
      'smmuv3_cmdq_consume_error Error on UNKNOWN command execution: 1',
      'smmuv3_cmdq_consume prod=2 cons=0 prod.wrap=0 cons.wrap=0',
      'smmuv3_cmdq_opcode <--- SMMU_CMD_SYNC',
    ].join('\n');
    const { stream, stats } = parseQemuTrace(text);
    expect(stream.cerrors).toEqual([{ index: 0, code: 1 }]);
    const rep = auditStream(stream, { trace: stats, replan: false });
    expect(rep.findings.map((f) => `${f.rule}@${f.index}`)).toEqual(['illegal@0', 'smmu-error@0']);
    expect(rep.findings[0]!.message).toMatch(/UNKNOWN/);
  });
});

describe('canonicalNumScale', () => {
  it('matches every encoding of a page count found by brute force', () => {
    for (let pages = 1; pages <= 4096; pages++) {
      const all: [number, number][] = [];
      for (let num = 0; num < 32; num++)
        for (let scale = 0; scale < 32; scale++) if ((num + 1) * 2 ** scale === pages) all.push([num, scale]);
      if (all.length === 0) continue;
      const c = canonicalNumScale(pages);
      expect(all).toContainEqual([c.num, c.scale]);
      expect((c.num + 1) % 2).toBe(1);
      expect(c.ambiguous).toBe(all.length > 1);
    }
  });
});

describe('a short trace end to end', () => {
  it('audits a rebuilt stream', () => {
    const cmds: Cmd[] = [{ kind: 'va', asid: 1, addr: 0x201000n, num: 0, scale: 9, ttl: 2, leaf: 1 }];
    const { stream, stats } = parseQemuTrace(traceOf(cmds, 'timestamp') + traceOf([], 'log'));
    const rep = auditStream(stream, { trace: stats, replan: false });
    expect(rep.findings.map((f) => f.rule)).toEqual(['misaligned-range', 'missing-final-sync']);
    expect(rep.findings[0]!.line).toBe(2);
  });
});
