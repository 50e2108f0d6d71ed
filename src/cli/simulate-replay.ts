/**
 * `smmuv3-tlbi simulate --replay FILE`: run a replay file (written by `campaign` for a failing workload case,
 * see src/campaign/shrink.ts) and print, for a person, the configuration, every operation, the commands of
 * the change that left a stale translation (per SMMU, as the SMMU received them) and the stale entries.
 * The same file gives the same output every time (the model's choices are seeded). Exit 0 when the replay
 * leaves no stale translation, 1 when it does, 2 for a file that is not a replay.
 */
import { readFileSync } from 'node:fs';
import { hexAddr } from '../bits.js';
import type { ReplayDocument } from '../campaign/run-case.js';
import { isFaultName } from '../sim/faults.js';
import { runSimulation, type SimConfig, type SimOp, type SimReport } from '../sim/workload.js';
import { EXIT_CHECK_FAILED, EXIT_OK, UsageError, out, parseJsonText, printJson, warn } from './common.js';

const STALE_SHOWN = 12;

function fail(file: string, field: string, what: string): never {
  throw new UsageError(`--replay ${file}: ${field} ${what}`);
}

function checkOp(file: string, i: number, op: unknown): SimOp {
  const at = `script[${i}]`;
  if (typeof op !== 'object' || op === null) fail(file, at, 'must be an object');
  const o = op as Record<string, unknown>;
  const int = (k: string): void => {
    if (typeof o[k] !== 'number' || !Number.isSafeInteger(o[k]) || (o[k] as number) < 0)
      fail(file, `${at}.${k}`, 'must be a non-negative integer');
  };
  if (o.k === 'config') int('n');
  else if (o.k === 'map') {
    for (const k of ['d', 'slot', 'iova', 'size', 'leaf', 'pa']) int(k);
    if (typeof o.write !== 'boolean') fail(file, `${at}.write`, 'must be true or false');
  } else if (o.k === 'unmap') {
    for (const k of ['d', 'slot', 'iova', 'size']) int(k);
    if (!Array.isArray(o.picks) || !o.picks.every((x) => Number.isSafeInteger(x) && x >= 0))
      fail(file, `${at}.picks`, 'must be a list of non-negative integers');
  } else fail(file, `${at}.k`, 'must be "map", "unmap" or "config"');
  return o as unknown as SimOp;
}

/** Read and check a replay file; the workload configuration and the operations. */
export function readReplay(file: string): { doc: ReplayDocument; cfg: SimConfig } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`--replay ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const d = parseJsonText(text, `--replay ${file}`) as Record<string, unknown>;
  if (typeof d !== 'object' || d === null || d.kind !== 'replay')
    fail(file, 'kind', 'must be "replay" (a file written by smmuv3-tlbi campaign)');
  const w = d.workload as Record<string, unknown> | undefined;
  if (typeof w !== 'object' || w === null) fail(file, 'workload', 'must be an object');
  if (![4096, 16384, 65536].includes(w.granule as number))
    fail(file, 'workload.granule', 'must be 4096, 16384 or 65536');
  if (!['1', '2', 'nested'].includes(w.stage as string)) fail(file, 'workload.stage', 'must be "1", "2" or "nested"');
  for (const k of ['ril', 'ats', 'e2h'])
    if (typeof w[k] !== 'boolean') fail(file, `workload.${k}`, 'must be true or false');
  if (!Number.isSafeInteger(w.smmus) || (w.smmus as number) < 1 || (w.smmus as number) > 16)
    fail(file, 'workload.smmus', 'must be from 1 to 16');
  if (w.policy !== 'linux' && w.policy !== 'tlbi') fail(file, 'workload.policy', 'must be "linux" or "tlbi"');
  if (w.fault !== null && !(typeof w.fault === 'string' && isFaultName(w.fault)))
    fail(file, 'workload.fault', 'must be null or a fault name');
  if (w.mode !== 'adversarial' && w.mode !== 'generous')
    fail(file, 'workload.mode', 'must be "adversarial" or "generous"');
  const errata = w.errata;
  if (!Array.isArray(errata) || !errata.every((e) => e === 'mmu700-2812531' || e === 'tegra264-repeat'))
    fail(file, 'workload.errata', 'must be a list of mmu700-2812531, tegra264-repeat');
  if (!Number.isSafeInteger(w.seed) || (w.seed as number) < 0)
    fail(file, 'workload.seed', 'must be a non-negative integer');
  if (!Array.isArray(d.script)) fail(file, 'script', 'must be a list of operations');
  const script = d.script.map((op, i) => checkOp(file, i, op));
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
    errata: errata as NonNullable<SimConfig['errata']>,
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

function printReplay(file: string, doc: ReplayDocument, cfg: SimConfig, r: SimReport): void {
  const w = doc.workload;
  const g = w.granule;
  out(`replay ${file}: ${doc.case.config}, seed ${doc.case.seed}`);
  out(
    `workload: granule ${g / 1024}K, stage ${w.stage}, ril ${w.ril ? 'on' : 'off'}, ats ${w.ats ? 'on' : 'off'}, e2h ${w.e2h ? 'on' : 'off'}, ` +
      `smmus ${w.smmus}, policy ${w.policy}, fault ${w.fault ?? 'none'}, model ${w.mode}, errata ${w.errata.join('+') || 'none'}`,
  );
  out('');
  out(`operations (${cfg.script!.length}):`);
  cfg.script!.forEach((op, i) => out(`  ${String(i).padStart(3)}  ${describeOp(op, g)}`));
  if (r.skipped !== undefined && r.skipped > 0) out(`  (${r.skipped} operations no longer applied and were skipped)`);
  out('');
  const cap = r.capture ?? null;
  if (r.stale === 0 || cap === null) {
    out(`result: no stale translation (${r.syncs} CMD_SYNCs); the replay does not reproduce a failure`);
    return;
  }
  out(
    `result: ${r.stale} stale translation${r.stale === 1 ? '' : 's'}; the first at operation ${cap.op} ` +
      `(change ${cap.change}: domain ${cap.domain}, stage ${cap.stage}, ${hexAddr(cap.range.first)}..${hexAddr(cap.range.last)})`,
  );
  for (const s of cap.smmus) {
    out('');
    out(`SMMU ${s.smmu} received (after the fault, if any):`);
    if (s.commands.length === 0) out('  (no command)');
    for (const c of s.commands) out(`  ${c.text}`);
    if (s.stale.length === 0) {
      out('  stale entries: none');
      continue;
    }
    out(`  stale entries once the last CMD_SYNC completed (${s.stale.length}):`);
    for (const st of s.stale.slice(0, STALE_SHOWN)) {
      const entry = Object.entries(st.entry)
        .map(([k, v]) => `${k}=${typeof v === 'number' && v > 9 ? `0x${v.toString(16)}` : String(v)}`)
        .join(' ');
      out(`    ${st.cache} ${entry}`);
      out(`      at ${st.address}: cached ${st.cached}; live tables: ${st.live}`);
    }
    if (s.stale.length > STALE_SHOWN) out(`    (${s.stale.length - STALE_SHOWN} more)`);
  }
}

/** Run `simulate --replay FILE [--json]`; the exit status. */
export function runReplayCommand(file: string, json: boolean): number {
  const { doc, cfg } = readReplay(file);
  const r = runSimulation(cfg);
  if (json) {
    const { elapsedMs: _e, opsPerSecond: _o, ...rest } = r;
    printJson({ kind: 'replay-run', file, case: doc.case, workload: doc.workload, script: cfg.script, report: rest });
  } else printReplay(file, doc, cfg, r);
  if (r.stale > 0) warn(`${r.stale} stale translations (replay ${file})`);
  return r.stale > 0 ? EXIT_CHECK_FAILED : EXIT_OK;
}
