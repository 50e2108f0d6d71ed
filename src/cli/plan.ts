/**
 * `smmuv3-tlbi plan`: one invalidation request (JSON from --input or stdin, or flags for the one-target case)
 * → the command-queue entries the engine plans, grouped by SMMU and batch, or one JSON document.
 */
import type { Command as Program } from 'commander';
import { InputError } from '../parse.js';
import {
  INV_TYPES,
  PAGE_SIZES,
  isS1Type,
  isTlbType,
  leafSizes,
  parsePlanRequest,
  planLinuxReport,
  planTlbiReport,
  type PlanRequest,
  type PlannedEntryJson,
  type PlanStats,
} from '../tlbi/index.js';
import { formatFields } from '../cmdq/format.js';
import {
  EXIT_OK,
  UsageError,
  action,
  choiceOption,
  out,
  parseJsonText,
  printJson,
  readInput,
  uintOption,
  U32,
  withExamples,
} from './common.js';
import type { Policy } from '../tlbi/plan.js';
import { levelShift, log2Of } from '../units.js';
import { validate as validatePlanInput } from '../schema/generated/plan-input.js';
import { checkAt, type Validator } from '../schema/validate.js';

interface PlanOpts {
  input?: string;
  json?: boolean;
  policy?: Policy;
  iova?: number;
  start?: number;
  size?: number;
  last?: number;
  leafSize?: number;
  granule?: number;
  leaf: boolean;
  leafLevels?: string;
  tableLevels?: string;
  type?: string;
  id?: number;
  asid?: number;
  vmid?: number;
  sid: string[];
  ssid?: number;
  pgsize: number;
  smmu: number;
  ats: string[];
  ril: boolean;
  e2h?: boolean;
  forceSync?: boolean;
  ds?: boolean;
}

const FLAG_KEYS = ['iova', 'start', 'size', 'last', 'leafSize', 'granule', 'leafLevels', 'tableLevels'] as const;

function levelList(text: string, flag: string): number[] {
  const t = text.trim();
  if (t === '') return [];
  return t.split(/[,\s]+/).map((x) => {
    if (!/^[0-3]$/.test(x)) throw new InputError(flag, `${JSON.stringify(x)} is not a level 0-3`);
    return Number(x);
  });
}

/** Parse `--ats SID[:SSID]` (or its other spelling `--sid`). */
function atsTarget(text: string, smmu: number, flag = '--ats'): Record<string, unknown> {
  const m = /^([^:]+)(?::(.+))?$/.exec(text.trim());
  if (!m) throw new InputError(flag, `${JSON.stringify(text)} is not SID or SID:SSID`);
  return { smmu, type: 'ATS', id: m[1], ssid: m[2] ?? 0 };
}

/** Build the JSON request the flags describe (checked by parsePlanRequest like any other request). */
export function requestFromFlags(o: PlanOpts): Record<string, unknown> {
  const start = o.start ?? o.iova;
  if (start === undefined)
    throw new UsageError('give --input FILE, a JSON request on stdin, or --iova/--start with --size or --last');
  if (o.size === undefined && o.last === undefined) throw new UsageError('give --size or --last with --iova/--start');
  if (o.size !== undefined && o.last !== undefined) throw new UsageError('give --size or --last, not both');
  const tlbiLevels = o.leafLevels !== undefined || o.tableLevels !== undefined;
  const policy = o.policy ?? (tlbiLevels ? 'tlbi' : 'linux');
  const target: Record<string, unknown> = { smmu: o.smmu, ...targetOf(o), pgsize: o.pgsize };
  if (o.ssid !== undefined) target.ssid = o.ssid;
  const invs = [target, ...o.ats.map((a) => atsTarget(a, o.smmu)), ...o.sid.map((a) => atsTarget(a, o.smmu, '--sid'))];
  const smmus = [
    { id: o.smmu, ril: o.ril, e2h: o.e2h ?? false, forceSync: o.forceSync ?? false, ...(o.ds ? { ds: true } : {}) },
  ];
  if (o.leafSize !== undefined && o.granule !== undefined && o.leafSize !== o.granule)
    throw new UsageError('--granule is the old spelling of --leaf-size: give one of them');
  const granule = o.leafSize ?? o.granule ?? o.pgsize;
  if (policy === 'linux') {
    if (tlbiLevels) throw new InputError('--leaf-levels', 'only with --policy tlbi');
    const size = o.size ?? (o.last! < start ? -1 : o.last! - start + 1);
    if (size < 0)
      throw new InputError('last', `last (0x${o.last!.toString(16)}) is below start (0x${start.toString(16)})`);
    return { smmus, invs, policy, iova: start, size, granule, leaf: o.leaf };
  }
  const last = o.last ?? start + o.size! - 1;
  if (o.size === 0) throw new InputError('size', 'must not be 0 with policy tlbi (give a range)');
  // Default levels: the level whose leaves have the size of --granule; --no-leaf adds the table level above it.
  let leafLevels: number[];
  if (o.leafLevels !== undefined) leafLevels = levelList(o.leafLevels, '--leaf-levels');
  else {
    const g = log2Of(o.pgsize);
    const lvl = [3, 2, 1].find((l) => 2 ** levelShift(g, l) === granule);
    if (lvl === undefined || !PAGE_SIZES.includes(o.pgsize) || !leafSizes(o.pgsize).includes(granule))
      throw new InputError('--leaf-size', `${granule} is not a page or block size of pgsize ${o.pgsize}`);
    leafLevels = [lvl];
  }
  const tableLevels =
    o.tableLevels !== undefined
      ? levelList(o.tableLevels, '--table-levels')
      : o.leaf
        ? []
        : [Math.max(0, (leafLevels[0] ?? 3) - 1)];
  return { smmus, invs, policy, tlbi: { start, last, leafLevels, tableLevels, granule: o.pgsize } };
}

/**
 * The target the flags name, in the words kernel developers use or the engine's: `--asid N` is a stage-1 ASID
 * (S1_ASID), `--vmid N` alone a stage-2 VMID (S2_VMID), `--asid A --vmid V` a stage 1 under the nesting parent
 * VMID V (S1_ASID_NESTED: a guest's stage 1, the only form whose commands carry V); or `--type T --id N`, where
 * `--vmid V` keeps its older meaning: the nesting parent of a stage-1 type (S1_ASID with V ≠ 0 becomes
 * S1_ASID_NESTED).
 */
export function targetOf(o: Pick<PlanOpts, 'type' | 'id' | 'asid' | 'vmid'>): {
  type: string;
  id: number;
  vmid: number;
} {
  if (o.asid !== undefined || (o.type === undefined && o.id === undefined && o.vmid !== undefined)) {
    if (o.type !== undefined)
      throw new UsageError('--asid/--vmid name the target: drop --type (or use --type with --id)');
    if (o.id !== undefined) throw new UsageError('--asid/--vmid name the target: drop --id (or use --type with --id)');
    if (o.asid === undefined) return { type: 'S2_VMID', id: o.vmid!, vmid: 0 };
    return o.vmid === undefined
      ? { type: 'S1_ASID', id: o.asid, vmid: 0 }
      : { type: 'S1_ASID_NESTED', id: o.asid, vmid: o.vmid };
  }
  const type = o.type ?? 'S1_ASID';
  const vmid = o.vmid ?? 0;
  // --vmid V (V ≠ 0) on a stage-1 target: a stage 1 under a nesting parent, the S1_ASID_NESTED type.
  return { type: type === 'S1_ASID' && vmid !== 0 ? 'S1_ASID_NESTED' : type, id: o.id ?? 0, vmid };
}

function runRequest(req: PlanRequest): { commands: PlannedEntryJson[]; stats: PlanStats } {
  if (req.policy === 'tlbi') return planTlbiReport(req.invs, req.tlbi!, req.table);
  return planLinuxReport(req.invs, req.range!, req.table);
}

function hexOf(n: number): string {
  return '0x' + n.toString(16);
}

/** The request as understood (numbers normalised, addresses as hex strings). */
function normalised(req: PlanRequest): Record<string, unknown> {
  const invs = req.invs
    .live()
    .map((e) => ({ smmu: e.smmu, type: e.type, id: e.id, ssid: e.ssid, vmid: e.vmid, pgsize: e.pgsize }));
  const base = { smmus: req.smmus, invs };
  if (req.policy === 'tlbi') {
    const t = req.tlbi!;
    return {
      ...base,
      tlbi: {
        start: hexOf(t.start),
        last: hexOf(t.last),
        leafLevels: t.leafLevels,
        tableLevels: t.tableLevels,
        granule: t.granule,
      },
    };
  }
  const r = req.range!;
  return { ...base, iova: hexOf(r.iova), size: hexOf(r.size), granule: r.granule, leaf: r.leaf };
}

function describeRequest(req: PlanRequest): string {
  if (req.policy === 'tlbi') {
    const t = req.tlbi!;
    return `policy tlbi: [${hexOf(t.start)}, ${hexOf(t.last)}] leafLevels [${t.leafLevels.join(',')}] tableLevels [${t.tableLevels.join(',')}] granule ${t.granule}`;
  }
  const r = req.range!;
  return `policy linux: iova ${hexOf(r.iova)} size ${r.size === 0 ? '0 (everything)' : hexOf(r.size)} granule ${hexOf(r.granule)} ${r.leaf ? 'leaf' : 'non-leaf'}`;
}

function printHuman(req: PlanRequest, commands: PlannedEntryJson[], stats: PlanStats): void {
  out(describeRequest(req));
  for (const e of req.invs.live())
    out(
      `  target smmu ${e.smmu} ${e.type} id ${e.id}` +
        (e.type === 'ATS' ? ` ssid ${e.ssid}` : '') +
        (isS1Type(e.type) ? ` vmid ${e.vmid}` : '') +
        (isTlbType(e.type) ? ` pgsize ${e.pgsize}` : ''),
    );
  let smmu = -1;
  let batch = -1;
  commands.forEach((c, k) => {
    if (c.smmu !== smmu) {
      smmu = c.smmu;
      const o = req.smmus.find((s) => s.id === smmu);
      const feats = o
        ? [o.ril ? 'ril' : 'no ril', o.e2h ? 'e2h' : '', o.forceSync ? 'forceSync' : '', o.ds ? 'ds' : '']
            .filter(Boolean)
            .join(', ')
        : '';
      out(`SMMU ${smmu} (${feats})`);
    }
    if (c.batch !== batch) {
      batch = c.batch;
      out(`  batch ${batch}`);
    }
    out(
      `    ${String(k).padStart(4)}  ${c.words[0]} ${c.words[1]}  ${c.name.padEnd(15)} ${formatFields(c.fields, c.name)}`,
    );
  });
  const kinds = Object.entries(stats.byKind)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  out(
    `${stats.entries} entries: ${stats.commands} commands, ${stats.syncs} CMD_SYNC, ${stats.batches} batches (${kinds}); ` +
      `TLB pages (4K) requested ${stats.pagesRequested}, invalidated ${stats.pagesInvalidated}, over ${stats.pagesOverInvalidated}` +
      (stats.wholeTag ? `; ${stats.wholeTag} whole-tag` : '') +
      (stats.atcCommands ? `; ATC_INV ${stats.atcCommands}` : ''),
  );
}

export function registerPlan(program: Program): void {
  const cmd = program
    .command('plan')
    .description(
      'Plan the invalidation commands for one request: JSON from --input or stdin ' +
        '({"smmus":[…],"invs":[…],"policy":"linux","iova","size","granule","leaf"} or "policy":"tlbi" with ' +
        '"tlbi":{start,last,leafLevels,tableLevels,granule}), or flags for one target. Prints the entries grouped ' +
        'by SMMU and batch. Exit 2 (naming the field) on an invalid request.',
    )
    .option('-i, --input <path>', 'JSON request file (default: stdin when no --iova/--start is given)')
    .option('--json', 'print one JSON document {schemaVersion, policy, request, commands, stats}')
    .option(
      '--policy <p>',
      'linux or tlbi (default linux; tlbi when --leaf-levels/--table-levels given)',
      choiceOption('--policy', ['linux', 'tlbi'] as const),
    )
    .option('--iova <addr>', 'first byte of the range', uintOption('iova'))
    .option('--start <addr>', 'same as --iova', uintOption('start'))
    .option('--size <bytes>', 'bytes (linux: 0 = everything)', uintOption('size'))
    .option('--last <addr>', 'last byte (inclusive), instead of --size', uintOption('last'))
    .option(
      '--leaf-size <bytes>',
      "size of the leaves the request changed (a page or a block: 4K, 2M, …; Linux's request granule; default: pgsize). " +
        'The translation granule is --pgsize',
      uintOption('--leaf-size'),
    )
    .option(
      '--granule <bytes>',
      'old spelling of --leaf-size (kept as an alias; JSON keeps "granule")',
      uintOption('--granule'),
    )
    .option('--no-leaf', 'linux: a non-leaf (walk-cache) invalidation; tlbi: a table descriptor was cleared too')
    .option('--leaf-levels <list>', 'tlbi: levels (0-3) whose leaf descriptors were cleared, e.g. "3" or "2,3"')
    .option('--table-levels <list>', 'tlbi: levels (0-2) of cleared table descriptors, e.g. "2"')
    .option(
      '--asid <n>',
      'the target is stage-1 ASID n (S1_ASID; with --vmid V: S1_ASID_NESTED under VMID V)',
      uintOption('--asid'),
    )
    .option(
      '--vmid <n>',
      'alone: the target is stage-2 VMID n (S2_VMID); with --asid: the nesting parent of that stage 1. ' +
        'With --type (the older form) it is the nesting parent of a stage-1 type: a nonzero VMID makes S1_ASID S1_ASID_NESTED',
      uintOption('--vmid'),
    )
    .option(
      '--sid <sid[:ssid]>',
      'same as --ats: also invalidate this device ATC (repeatable)',
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .option('--type <type>', `target type (instead of --asid/--vmid): ${INV_TYPES.join(', ')} (default S1_ASID)`)
    .option('--id <n>', 'ASID, VMID or StreamID of the --type target (default 0)', uintOption('--id'))
    .option('--ssid <n>', 'SubstreamID of an ATS target', uintOption('ssid'))
    .option('--pgsize <bytes>', 'smallest page size of the domain: 4K, 16K or 64K', uintOption('pgsize'), 4096)
    .option('--smmu <n>', 'SMMU id', uintOption('smmu', U32), 0)
    .option(
      '--ats <sid[:ssid]>',
      'also invalidate this device ATC (repeatable)',
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .option('--no-ril', 'the SMMU has no range invalidation')
    .option('--e2h', 'the SMMU runs with E2H (EL2 stage-1 opcodes)')
    .option('--force-sync', 'MMU-700 erratum 2812531: CMD_SYNC at least every 64 commands')
    .option('--ds', 'the SMMU has IDR5.DS: 6-bit SCALE (up to 39), fewer commands for huge ranges')
    .action(
      action(async (o: PlanOpts) => {
        const flagsGiven = FLAG_KEYS.some((k) => o[k] !== undefined);
        let raw: unknown;
        if (o.input !== undefined || !flagsGiven) {
          if (flagsGiven) throw new UsageError('give either --input (or stdin) or the range flags, not both');
          const source = o.input ?? 'stdin';
          raw = parseJsonText((await readInput(o.input)).toString('utf8'), source);
          // The request's schema (src/schema/defs/plan-input.ts): keys, types, JSON numbers' ranges.
          checkAt(validatePlanInput as Validator, raw, '', 'request');
        } else {
          raw = requestFromFlags(o);
        }
        const req = parsePlanRequest(raw);
        const { commands, stats } = runRequest(req);
        if (o.json) printJson({ policy: req.policy, request: normalised(req), commands, stats });
        else printHuman(req, commands, stats);
        return EXIT_OK;
      }),
    );
  withExamples(
    cmd,
    'smmuv3-tlbi plan --iova 0x10000000 --size 0x21000 --id 5 --ats 16',
    'smmuv3-tlbi plan --asid 5 --iova 0x10000000 --size 0x21000 --sid 16:3',
    'smmuv3-tlbi plan --asid 2 --vmid 7 --iova 0x40000000 --size 2M --leaf-size 2M',
    'smmuv3-tlbi plan --vmid 3 --iova 0x80000000 --size 64K',
    'smmuv3-tlbi plan --start 0x8000_0000 --size 2M --leaf-size 2M --policy tlbi --no-ril',
    'smmuv3-tlbi plan --start 0x200000 --last 0x3fffff --leaf-levels 3 --table-levels 2 --json',
    'echo \'{"smmus":[{"id":0,"ril":true}],"invs":[{"smmu":0,"type":"S1_ASID","id":5}],"iova":"0x10000000","size":"0x21000","granule":4096,"leaf":true}\' | smmuv3-tlbi plan --json',
  );
}
