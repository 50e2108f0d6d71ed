/**
 * Replay files, environment-free: check a parsed replay document (the JSON `campaign` writes for a failing
 * workload case, see run-case.ts `replayDocument`) into the workload configuration that replays it, and the
 * text a person reads for the result (the operations, the commands of the change that left a stale
 * translation, the stale entries). `simulate --replay FILE` (src/cli/simulate-replay.ts) and the page's
 * simulate view share both, so the two show the same lines for the same file.
 */
import { hexAddr } from '../bits.js';
import { isFaultName } from '../sim/faults.js';
import type { SimConfig, SimOp, SimReport } from '../sim/workload.js';
import type { ReplayDocument } from './run-case.js';

/** Stale entries listed per SMMU (the rest are counted). */
const STALE_SHOWN = 12;

/** A replay document that does not check: `field` names where (`workload.granule`, `script[3].iova`). */
export class ReplayFieldError extends Error {
  readonly field: string;
  readonly what: string;
  constructor(field: string, what: string) {
    super(`${field} ${what}`);
    this.name = 'ReplayFieldError';
    this.field = field;
    this.what = what;
  }
}

function fail(field: string, what: string): never {
  throw new ReplayFieldError(field, what);
}

function checkOp(i: number, op: unknown): SimOp {
  const at = `script[${i}]`;
  if (typeof op !== 'object' || op === null) fail(at, 'must be an object');
  const o = op as Record<string, unknown>;
  const int = (k: string): void => {
    if (typeof o[k] !== 'number' || !Number.isSafeInteger(o[k]) || (o[k] as number) < 0)
      fail(`${at}.${k}`, 'must be a non-negative integer');
  };
  if (o.k === 'config') int('n');
  else if (o.k === 'map') {
    for (const k of ['d', 'slot', 'iova', 'size', 'leaf', 'pa']) int(k);
    if (typeof o.write !== 'boolean') fail(`${at}.write`, 'must be true or false');
  } else if (o.k === 'unmap') {
    for (const k of ['d', 'slot', 'iova', 'size']) int(k);
    if (!Array.isArray(o.picks) || !o.picks.every((x) => Number.isSafeInteger(x) && x >= 0))
      fail(`${at}.picks`, 'must be a list of non-negative integers');
  } else fail(`${at}.k`, 'must be "map", "unmap" or "config"');
  return o as unknown as SimOp;
}

function checkWorkload(w: Record<string, unknown>): void {
  if (![4096, 16384, 65536].includes(w.granule as number)) fail('workload.granule', 'must be 4096, 16384 or 65536');
  if (!['1', '2', 'nested'].includes(w.stage as string)) fail('workload.stage', 'must be "1", "2" or "nested"');
  for (const k of ['ril', 'ats', 'e2h']) if (typeof w[k] !== 'boolean') fail(`workload.${k}`, 'must be true or false');
  if (!Number.isSafeInteger(w.smmus) || (w.smmus as number) < 1 || (w.smmus as number) > 16)
    fail('workload.smmus', 'must be from 1 to 16');
  if (w.policy !== 'linux' && w.policy !== 'tlbi') fail('workload.policy', 'must be "linux" or "tlbi"');
  if (w.fault !== null && !(typeof w.fault === 'string' && isFaultName(w.fault)))
    fail('workload.fault', 'must be null or a fault name');
  if (w.mode !== 'adversarial' && w.mode !== 'generous') fail('workload.mode', 'must be "adversarial" or "generous"');
  const errata = w.errata;
  if (!Array.isArray(errata) || !errata.every((e) => e === 'mmu700-2812531' || e === 'tegra264-repeat'))
    fail('workload.errata', 'must be a list of mmu700-2812531, tegra264-repeat');
  if (!Number.isSafeInteger(w.seed) || (w.seed as number) < 0) fail('workload.seed', 'must be a non-negative integer');
}

/**
 * Check a parsed replay document; the document and the workload configuration that replays it (every
 * operation of its script, the change that left the first stale translation captured). Throws
 * ReplayFieldError naming the first field that is wrong.
 */
export function parseReplay(value: unknown): { doc: ReplayDocument; cfg: SimConfig } {
  const d = value as Record<string, unknown>;
  if (typeof d !== 'object' || d === null || d.kind !== 'replay')
    fail('kind', 'must be "replay" (a file written by smmuv3-tlbi campaign)');
  const w = d.workload as Record<string, unknown> | undefined;
  if (typeof w !== 'object' || w === null) fail('workload', 'must be an object');
  checkWorkload(w);
  if (!Array.isArray(d.script)) fail('script', 'must be a list of operations');
  const script = d.script.map((op, i) => checkOp(i, op));
  const doc = d as unknown as ReplayDocument;
  const cfg: SimConfig = {
    granule: w.granule as 4096,
    stage: w.stage as '1',
    ril: w.ril as boolean,
    ats: w.ats as boolean,
    e2h: w.e2h as boolean,
    smmus: w.smmus as number,
    ops: script.length,
    seed: w.seed as number,
    policy: w.policy as 'linux',
    fault: w.fault as SimConfig['fault'],
    mode: w.mode as 'adversarial',
    errata: w.errata as NonNullable<SimConfig['errata']>,
    maxReports: 1000,
    script,
    capture: { change: 'auto', limit: 40 },
  };
  return { doc, cfg };
}

function size(n: number, g: number): string {
  const pages = n / g;
  return n >= 2 ** 20 && n % 2 ** 20 === 0 && pages > 64
    ? `${n / 2 ** 20} MiB`
    : `${pages} page${pages === 1 ? '' : 's'}`;
}

/** One line per operation. */
export function describeOp(op: SimOp, g: number): string {
  if (op.k === 'config')
    return `configuration change ${op.n}: domain ${op.n % 2} moves to its other ASID/VMID (CFGI + SYNC, then the old tag's flush)`;
  const range = `${hexAddr(op.iova)}..${hexAddr(op.iova + op.size - 1)}`;
  if (op.k === 'map') {
    const leaf = op.leaf === g ? 'pages' : 'a block';
    return `map    domain ${op.d} slot ${op.slot}: ${range} (${size(op.size, g)}, as ${leaf}) -> ${hexAddr(op.pa)} ${op.write ? 'rw' : 'r-'}`;
  }
  return `unmap  domain ${op.d} slot ${op.slot}: ${range} (${size(op.size, g)}); caches filled over it first`;
}

function headerLines(name: string, doc: ReplayDocument, cfg: SimConfig, r: SimReport): string[] {
  const w = doc.workload;
  const g = w.granule;
  const lines = [
    `replay ${name}: ${doc.case.config}, seed ${doc.case.seed}`,
    `workload: granule ${g / 1024}K, stage ${w.stage}, ril ${w.ril ? 'on' : 'off'}, ats ${w.ats ? 'on' : 'off'}, e2h ${w.e2h ? 'on' : 'off'}, ` +
      `smmus ${w.smmus}, policy ${w.policy}, fault ${w.fault ?? 'none'}, model ${w.mode}, errata ${w.errata.join('+') || 'none'}`,
    '',
    `operations (${cfg.script!.length}):`,
    ...cfg.script!.map((op, i) => `  ${String(i).padStart(3)}  ${describeOp(op, g)}`),
  ];
  if (r.skipped !== undefined && r.skipped > 0)
    lines.push(`  (${r.skipped} operations no longer applied and were skipped)`);
  lines.push('');
  return lines;
}

function smmuLines(s: NonNullable<SimReport['capture']>['smmus'][number]): string[] {
  const lines = ['', `SMMU ${s.smmu} received (after the fault, if any):`];
  if (s.commands.length === 0) lines.push('  (no command)');
  for (const c of s.commands) lines.push(`  ${c.text}`);
  if (s.stale.length === 0) {
    lines.push('  stale entries: none');
    return lines;
  }
  lines.push(`  stale entries once the last CMD_SYNC completed (${s.stale.length}):`);
  for (const st of s.stale.slice(0, STALE_SHOWN)) {
    const entry = Object.entries(st.entry)
      .map(([k, v]) => `${k}=${typeof v === 'number' && v > 9 ? `0x${v.toString(16)}` : String(v)}`)
      .join(' ');
    lines.push(`    ${st.cache} ${entry}`, `      at ${st.address}: cached ${st.cached}; live tables: ${st.live}`);
  }
  if (s.stale.length > STALE_SHOWN) lines.push(`    (${s.stale.length - STALE_SHOWN} more)`);
  return lines;
}

/**
 * What `simulate --replay` prints for a replay's run, one string per line: the case and workload, every
 * operation, the result and, when it left a stale translation, each SMMU's commands and stale entries.
 * `name` is the file as the reader gave it.
 */
export function replayLines(name: string, doc: ReplayDocument, cfg: SimConfig, r: SimReport): string[] {
  const lines = headerLines(name, doc, cfg, r);
  const cap = r.capture ?? null;
  if (r.stale === 0 || cap === null) {
    lines.push(`result: no stale translation (${r.syncs} CMD_SYNCs); the replay does not reproduce a failure`);
    return lines;
  }
  lines.push(
    `result: ${r.stale} stale translation${r.stale === 1 ? '' : 's'}; the first at operation ${cap.op} ` +
      `(change ${cap.change}: domain ${cap.domain}, stage ${cap.stage}, ${hexAddr(cap.range.first)}..${hexAddr(cap.range.last)})`,
  );
  for (const s of cap.smmus) lines.push(...smmuLines(s));
  return lines;
}
