/**
 * `smmuv3-tlbi pgtable`: run a JSON script of map / unmap / walk operations on an I/O page table and print,
 * for each unmap, the tlbi description, the freed tables and the Linux-style requests, and for each walk the
 * descriptor read at each level.
 *
 * Script: { "stage": 1|2, "granule": 4096|"4K"|"16K"|"64K", "ias": 48, "oas"?: 48, "ops": [
 *   { "op": "map", "iova": "0x…", "pa": "0x…", "size": "2M", "prot"?: "rw" | { read, write, exec, priv,
 *     global, ns, memType } },
 *   { "op": "unmap", "iova": "0x…", "size": "0x…" },
 *   { "op": "walk", "iova": "0x…" } ] }
 * Numbers may be JSON numbers or strings (0x hex, decimal, size suffixes). A bad script — malformed field,
 * or an operation the page table refuses (misaligned, overlapping, partial unmap, …) — exits 2 with one
 * line naming the operation's index and field, e.g. `ops[3].size: …`.
 */
import type { Command as Program } from 'commander';
import { hexAddr } from '../bits.js';
import { InputError, parseBool, parseUint } from '../parse.js';
import { Gather, IoPageTable, OutOfFramesError, PageTableError, leafProt, protString } from '../pgtable/index.js';
import type { GatheredChanges, MemType, Prot, TlbiDescription, UnmapResult, WalkResult } from '../pgtable/index.js';
import { validate as validateScript } from '../schema/generated/pgtable-input.js';
import { checkDocument, type Validator } from '../schema/validate.js';
import { EXIT_OK, UsageError, action, out, parseJsonText, printJson, readInput, withExamples } from './common.js';

export type ScriptOp =
  | { op: 'map'; iova: number; pa: number; size: number; prot: Prot }
  | { op: 'unmap'; iova: number; size: number }
  | { op: 'walk'; iova: number };

export interface PgtableScript {
  stage: number;
  granule: number;
  ias: number;
  oas: number;
  ops: ScriptOp[];
}

const TopFields = ['stage', 'granule', 'ias', 'oas', 'ops'];
const OpFields: Record<ScriptOp['op'], string[]> = {
  map: ['op', 'iova', 'pa', 'size', 'prot'],
  unmap: ['op', 'iova', 'size'],
  walk: ['op', 'iova'],
};
const ProtFields = ['read', 'write', 'exec', 'priv', 'global', 'ns', 'memType'];
const MemTypes: readonly MemType[] = ['cached', 'noncached', 'device'];

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkFields(obj: Record<string, unknown>, allowed: string[], where: string): void {
  for (const k of Object.keys(obj))
    if (!allowed.includes(k))
      throw new InputError(`${where}${where ? '.' : ''}${k}`, `unknown field (expected one of ${allowed.join(', ')})`);
}

function required(obj: Record<string, unknown>, key: string, where: string): unknown {
  if (!(key in obj)) throw new InputError(`${where}.${key}`, 'missing');
  return obj[key];
}

/** Parse a prot: a string of r/w/x letters (`-` allowed as filler) or an object of flags. */
export function parseProt(v: unknown, field: string): Prot {
  if (typeof v === 'string') {
    const s = v.trim().toLowerCase();
    if (!/^[rwx-]{1,3}$/.test(s) || /(.).*\1/.test(s.replace(/-/g, '')))
      throw new InputError(field, `expected letters from "rwx" such as "rw" or "r-x" (got ${JSON.stringify(v)})`);
    return { read: s.includes('r'), write: s.includes('w'), exec: s.includes('x') };
  }
  if (!isRecord(v)) throw new InputError(field, 'expected a string such as "rw" or an object { read, write, exec }');
  checkFields(v, ProtFields, field);
  const flag = (k: string): boolean => (v[k] === undefined ? false : parseBool(v[k], `${field}.${k}`));
  const prot: Prot = { read: flag('read'), write: flag('write'), exec: flag('exec') };
  if (v.priv !== undefined) prot.priv = flag('priv');
  if (v.global !== undefined) prot.global = flag('global');
  if (v.ns !== undefined) prot.ns = flag('ns');
  if (v.memType !== undefined) {
    if (!(MemTypes as readonly unknown[]).includes(v.memType))
      throw new InputError(
        `${field}.memType`,
        `must be one of ${MemTypes.join(', ')} (got ${JSON.stringify(v.memType)})`,
      );
    prot.memType = v.memType as MemType;
  }
  return prot;
}

/** Validate a parsed JSON script; errors name the field (`ops[2].iova`). */
export function parsePgtableScript(doc: unknown): PgtableScript {
  if (!isRecord(doc)) throw new InputError('script', 'expected a JSON object { stage, granule, ias, ops }');
  checkFields(doc, TopFields, '');
  const stage = doc.stage === undefined ? 1 : parseUint(doc.stage, 'stage');
  const granule = doc.granule === undefined ? 4096 : parseUint(doc.granule, 'granule');
  const ias = doc.ias === undefined ? 48 : parseUint(doc.ias, 'ias');
  const oas = doc.oas === undefined ? 48 : parseUint(doc.oas, 'oas');
  if (!Array.isArray(doc.ops)) throw new InputError('ops', 'expected an array of operations');
  const ops = doc.ops.map((raw: unknown, i): ScriptOp => {
    const where = `ops[${i}]`;
    if (!isRecord(raw)) throw new InputError(where, 'expected an object such as {"op":"map", …}');
    const kind = raw.op;
    if (kind !== 'map' && kind !== 'unmap' && kind !== 'walk')
      throw new InputError(`${where}.op`, `must be "map", "unmap" or "walk" (got ${JSON.stringify(kind)})`);
    checkFields(raw, OpFields[kind], where);
    const num = (k: string): number => parseUint(required(raw, k, where), `${where}.${k}`);
    if (kind === 'map')
      return {
        op: 'map',
        iova: num('iova'),
        pa: num('pa'),
        size: num('size'),
        prot: raw.prot === undefined ? { read: true, write: true, exec: false } : parseProt(raw.prot, `${where}.prot`),
      };
    if (kind === 'unmap') return { op: 'unmap', iova: num('iova'), size: num('size') };
    return { op: 'walk', iova: num('iova') };
  });
  return { stage, granule, ias, oas, ops };
}

const hx = hexAddr;

function tlbiJson(t: TlbiDescription | null) {
  return t === null
    ? null
    : {
        start: hx(t.start),
        last: hx(t.last),
        leafLevels: t.leafLevels,
        tableLevels: t.tableLevels,
        granule: t.granule,
      };
}

function changesJson(c: Pick<UnmapResult, 'freedTables' | 'linuxRequests'>) {
  return {
    freedTables: c.freedTables.map((f) => ({ pa: hx(f.pa), level: f.level, iova: hx(f.iova), size: hx(f.size) })),
    linuxRequests: c.linuxRequests.map((r) => ({
      iova: hx(r.iova),
      size: hx(r.size),
      granule: hx(r.granule),
      leaf: r.leaf,
    })),
  };
}

function walkJson(w: WalkResult, stage: 1 | 2) {
  const leaf = w.leaf;
  return {
    steps: w.steps.map((s) => ({
      level: s.level,
      tablePa: hx(s.tablePa),
      index: s.index,
      descriptorPa: hx(s.descriptorPa),
      descriptor: s.hex,
      kind: s.kind,
    })),
    leaf:
      leaf === null
        ? null
        : {
            level: leaf.level,
            kind: leaf.kind,
            iova: hx(leaf.iova),
            size: hx(leaf.size),
            pa: hx(leaf.pa),
            prot: protString(leafProt(stage, w.steps[w.steps.length - 1]!.lo, w.steps[w.steps.length - 1]!.hi)),
            attrs: leaf.attrs,
          },
    pa: w.pa === null ? null : hx(w.pa),
  };
}

function gatherJson(g: GatheredChanges) {
  return { unmaps: g.unmaps, tlbi: tlbiJson(g.tlbi), ...changesJson(g) };
}

/** Run a script; returns the JSON report (schemaVersion added by the printer). Page-table refusals → InputError. */
export function runPgtableScript(script: PgtableScript): Record<string, unknown> {
  let table: IoPageTable;
  try {
    table = new IoPageTable({
      stage: script.stage as 1 | 2,
      granule: script.granule,
      ias: script.ias,
      oas: script.oas,
    });
  } catch (e) {
    if (e instanceof PageTableError) throw new InputError(e.field, e.detail);
    throw e;
  }
  const c = table.config;
  const gather = new Gather();
  const ops = script.ops.map((op, i) => {
    try {
      switch (op.op) {
        case 'map': {
          const r = table.map(op.iova, op.pa, op.size, op.prot);
          return {
            index: i,
            op: 'map',
            iova: hx(op.iova),
            pa: hx(op.pa),
            size: hx(op.size),
            prot: protString(op.prot),
            leaves: r.leaves,
            tablesAllocated: r.tablesAllocated,
          };
        }
        case 'unmap': {
          const r = table.unmap(op.iova, op.size);
          gather.add(r);
          return {
            index: i,
            op: 'unmap',
            iova: hx(op.iova),
            size: hx(op.size),
            unmapped: hx(r.unmapped),
            holeAt: r.holeAt === null ? null : hx(r.holeAt),
            tlbi: tlbiJson(r.tlbi),
            ...changesJson(r),
          };
        }
        case 'walk':
          return { index: i, op: 'walk', iova: hx(op.iova), ...walkJson(table.walk(op.iova), c.stage) };
      }
    } catch (e) {
      if (e instanceof PageTableError) throw new InputError(`ops[${i}].${e.field}`, e.detail);
      if (e instanceof OutOfFramesError) throw new InputError(`ops[${i}]`, `${e.message} (the map was rolled back)`);
      throw e;
    }
  });
  return {
    config: {
      stage: c.stage,
      granule: c.granule,
      ias: c.ias,
      oas: c.oas,
      startLevel: c.startLevel,
      rootEntries: table.rootEntries,
      rootPa: hx(c.rootPa),
    },
    ops,
    gather: gatherJson(gather.take()),
    liveTables: table.allocator.liveFrames,
  };
}

// ------------------------------------------------------------------ human output

type Json = Record<string, unknown>;

function sizeText(hex: string): string {
  const n = Number(hex);
  for (const [u, s] of [
    ['G', 2 ** 30],
    ['M', 2 ** 20],
    ['K', 2 ** 10],
  ] as const)
    if (n >= s && n % s === 0) return `${n / s}${u}`;
  return hex;
}

function tlbiText(t: Json | null): string {
  if (t === null) return 'nothing changed';
  return (
    `[${String(t.start)}, ${String(t.last)}] leaf levels [${String(t.leafLevels)}] ` +
    `table levels [${String(t.tableLevels)}] granule ${sizeText(hx(Number(t.granule)))}`
  );
}

function changesText(o: Json, lines: string[], indent: string): void {
  for (const f of o.freedTables as Json[])
    lines.push(
      `${indent}freed table ${String(f.pa)} (level-${String(f.level)} descriptor, span ${String(f.iova)} +${sizeText(String(f.size))})`,
    );
  for (const r of o.linuxRequests as Json[])
    lines.push(
      `${indent}linux ${r.leaf ? 'leaf    ' : 'non-leaf'} iova ${String(r.iova)} size ${String(r.size)} granule ${sizeText(String(r.granule))}`,
    );
}

/** The report as human-readable lines. */
export function formatPgtableReport(report: Json): string[] {
  const c = report.config as Json;
  const lines = [
    `stage ${String(c.stage)}, granule ${sizeText(hx(Number(c.granule)))}, ias ${String(c.ias)}, oas ${String(c.oas)}: ` +
      `start level ${String(c.startLevel)} (${String(c.rootEntries)} entries), root table at ${String(c.rootPa)}`,
  ];
  for (const o of report.ops as Json[]) {
    const head = `ops[${String(o.index)}] ${String(o.op)}`;
    if (o.op === 'map') {
      const leaves = (o.leaves as number[])
        .map((n, l) => (n === 0 ? '' : `${n} × level ${l} ${l === 3 ? 'page' : 'block'}`))
        .filter((s) => s !== '')
        .join(', ');
      lines.push(
        `${head} iova ${String(o.iova)} → pa ${String(o.pa)} size ${sizeText(String(o.size))} (${String(o.prot)}): ` +
          `${leaves}; ${String(o.tablesAllocated)} table(s) allocated`,
      );
    } else if (o.op === 'unmap') {
      const hole = o.holeAt === null ? '' : `, stopped at the hole at ${String(o.holeAt)}`;
      lines.push(
        `${head} iova ${String(o.iova)} size ${sizeText(String(o.size))}: unmapped ${sizeText(String(o.unmapped))}${hole}`,
      );
      lines.push(`  tlbi ${tlbiText(o.tlbi as Json | null)}`);
      changesText(o, lines, '  ');
    } else {
      lines.push(`${head} iova ${String(o.iova)}:`);
      for (const s of o.steps as Json[])
        lines.push(
          `  L${String(s.level)} table ${String(s.tablePa)} [${String(s.index)}] @ ${String(s.descriptorPa)}: ` +
            `${String(s.descriptor)} ${String(s.kind)}`,
        );
      const leaf = o.leaf as Json | null;
      lines.push(
        leaf === null
          ? '  → not mapped'
          : `  → pa ${String(o.pa)} (level-${String(leaf.level)} ${String(leaf.kind)} ${String(leaf.iova)} +${sizeText(String(leaf.size))} → ${String(leaf.pa)}, ${String(leaf.prot)})`,
      );
    }
  }
  const g = report.gather as Json;
  lines.push(`gather over ${String(g.unmaps)} unmap(s): ${tlbiText(g.tlbi as Json | null)}`);
  changesText(g, lines, '  ');
  lines.push(`live table frames: ${String(report.liveTables)}`);
  return lines;
}

interface PgtableOpts {
  input?: string;
  json?: boolean;
}

export function registerPgtable(program: Program): void {
  const cmd = program
    .command('pgtable')
    .description(
      'Run a JSON script of map / unmap / walk operations on an ARMv8 I/O page table (stage 1 or 2; 4K, 16K or 64K ' +
        'granule) and print, for each unmap, the tlbi description, the freed tables and the Linux-style requests, and ' +
        'for each walk the descriptor read at each level. A bad script exits 2 naming the operation and field.',
    )
    .option('-i, --input <file>', 'the script (default: stdin)')
    .option('--json', 'print one JSON document')
    .action(
      action(async (opts: PgtableOpts) => {
        const source = opts.input ?? 'stdin';
        const doc = parseJsonText((await readInput(opts.input)).toString('utf8'), source);
        // The script's schema (src/schema/defs/pgtable-input.ts): keys of each operation, types, ranges.
        checkDocument(validateScript as Validator, doc, source);
        let report: Record<string, unknown>;
        try {
          report = runPgtableScript(parsePgtableScript(doc));
        } catch (e) {
          if (e instanceof InputError) throw new UsageError(`${source}: ${e.message}`);
          throw e;
        }
        if (opts.json) printJson(report);
        else for (const l of formatPgtableReport(report)) out(l);
        return EXIT_OK;
      }),
    );
  withExamples(
    cmd,
    `echo '{"stage":1,"granule":4096,"ias":48,"ops":[{"op":"map","iova":"0x40000000","pa":"0x80000000","size":"2M"},` +
      `{"op":"walk","iova":"0x40001000"},{"op":"unmap","iova":"0x40000000","size":"2M"}]}' | smmuv3-tlbi pgtable`,
    'smmuv3-tlbi pgtable --input examples/pgtable-script.json --json',
  );
}
