/**
 * The public API (src/index.ts, the package's only entry point) lists every export by name, each with a
 * one-line doc comment, and re-exports no whole module. The runtime names are pinned here: adding or
 * removing one is a deliberate change of this list (README: which names are stable).
 */
import { readFileSync } from 'node:fs';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import * as api from '../src/index.js';

const FILE = new URL('../src/index.ts', import.meta.url);
const text = readFileSync(FILE, 'utf8');
const sf = ts.createSourceFile('index.ts', text, ts.ScriptTarget.ES2022, true);

/** The doc comment right before a node (a `/** … *\/` block among its leading comments), or ''. */
function docOf(node: ts.Node): string {
  const ranges = ts.getLeadingCommentRanges(text, node.getFullStart()) ?? [];
  const last = ranges[ranges.length - 1];
  if (last === undefined) return '';
  const c = text.slice(last.pos, last.end);
  return c.startsWith('/**') ? c : '';
}

describe('the public API', () => {
  const decls = sf.statements.filter(ts.isExportDeclaration);

  it('is a list of named exports: no `export *`, no other statements', () => {
    expect(sf.statements.length).toBe(decls.length);
    for (const d of decls) {
      expect(d.exportClause, d.getText()).toBeDefined();
      expect(ts.isNamedExports(d.exportClause!), d.getText()).toBe(true);
    }
  });

  it('gives every name a doc comment (value exports per statement, type exports per name)', () => {
    const undocumented: string[] = [];
    for (const d of decls) {
      const names = (d.exportClause as ts.NamedExports).elements;
      if (d.isTypeOnly && names.length > 1) {
        for (const e of names) if (docOf(e) === '') undocumented.push(e.name.text);
      } else if (docOf(d) === '') undocumented.push(names.map((e) => e.name.text).join(', '));
    }
    expect(undocumented).toEqual([]);
  });

  it('exports exactly these runtime names', () => {
    expect(Object.keys(api).sort()).toEqual(
      [
        'AuditInputError',
        'AuditSession',
        'COMMAND_NAMES',
        'CommandBuffer',
        'CommandChecker',
        'CommandEncodeError',
        'Domain',
        'Driver',
        'FrameAllocator',
        'Gather',
        'Hypervisor',
        'InputError',
        'Invs',
        'IoPageTable',
        'OPCODE_SPECS',
        'Opcode',
        'OutOfFramesError',
        'OverlapError',
        'PageTableError',
        'PartialUnmapError',
        'PhysMemory',
        'PlanOutput',
        'QemuTraceParser',
        'RULES',
        'SCENARIO_NAMES',
        'SMMU_ERRATA',
        'SmmuModel',
        'StaleChecker',
        'TEXT_FORMATS',
        'TextDumpReader',
        'atcInvSize',
        'auditStream',
        'checkRangeRequest',
        'checkTlbi',
        'commandFromJson',
        'decodeBytes',
        'decodeHalves',
        'decodeSlot',
        'decodedEntryToJson',
        'emptyInvs',
        'encodeCommand',
        'encodeHalves',
        'featuresFromIdRegs',
        'filterHostCommands',
        'formatReport',
        'formatScenarioReport',
        'hex64',
        'hi32',
        'invalidateRange',
        'invsOf',
        'join64',
        'lo32',
        'mergeInvs',
        'parsePlanRequest',
        'parseQemuTrace',
        'parseSmmus',
        'parseTextDump',
        'planEntriesToJson',
        'planStats',
        'purgeInvs',
        'readRing',
        'reportToJson',
        'runScenario',
        'tlbiInv',
        'unrefInvs',
      ].sort(),
    );
  });

  it('runs the README library example through it', () => {
    const smmus = [{ ril: true, e2h: false, forceSync: false }];
    const invs = api.mergeInvs(api.emptyInvs(), [{ smmu: 0, type: 'S1_ASID', id: 5, ssid: 0, vmid: 0, pgsize: 4096 }]);
    const out = new api.PlanOutput();
    api.invalidateRange(invs, { iova: 0x1000_0000, size: 0x2000, granule: 4096, leaf: true }, smmus, out);
    const rows = api.planEntriesToJson(out);
    expect(rows.map((r) => r.name)).toEqual(['TLBI_NH_VA', 'CMD_SYNC']);
    expect(api.decodeSlot(out.buf.u32, 0).ok).toBe(true);
  });
});
