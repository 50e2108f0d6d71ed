/**
 * A campaign's report: the results of its cases joined into one document (totals, a row per
 * configuration, the cases in index order), its human summary, JUnit XML and KTAP text, and the merge of
 * shard reports. Everything but the `timing` field and the cases' `time` is determined by the matrix, the
 * seeds and the shard, so a merge of every shard equals the unsharded report. Free of Node APIs.
 */
import type { AxisName, SeedRange, Shard } from './matrix.js';
import type { CaseResult } from './run-case.js';

export interface CampaignMatrix {
  /** Every axis with its chosen values. */
  readonly axes: Readonly<Record<AxisName, readonly string[]>>;
  /** The configurations' names, in matrix order (a case's configuration is its index into this list). */
  readonly configurations: readonly string[];
  readonly seeds: SeedRange;
  /** Operations per case (null: the defaults: workload 2000, each scenario its own). */
  readonly ops: number | null;
  readonly fault: string | null;
  readonly smmus: number;
  readonly mode: string;
  /** A time budget ends the campaign (ms); null: the seed range does. */
  readonly timeBudgetMs: number | null;
}

export interface ConfigRow {
  readonly config: string;
  readonly cases: number;
  readonly ops: number;
  readonly stale: number;
  readonly violations: number;
  /** Seeds of the failing cases, ascending (the first 50). */
  readonly failingSeeds: readonly number[];
  readonly failingCases: number;
}

export interface CampaignDocument {
  readonly kind: 'campaign';
  readonly matrix: CampaignMatrix;
  readonly shard: Shard;
  /** Every case of the shard ran (false: interrupted, stopped on failure, or ended by the time budget). */
  readonly complete: boolean;
  readonly interrupted: boolean;
  readonly stoppedOnFailure: boolean;
  readonly totals: {
    readonly cases: number;
    readonly ops: number;
    readonly stale: number;
    readonly violations: number;
    readonly failingCases: number;
  };
  readonly configurations: readonly ConfigRow[];
  readonly cases: readonly CaseResult[];
  /** Not part of the deterministic result: wall and CPU time, jobs. */
  readonly timing: CampaignTiming;
}

export interface CampaignTiming {
  readonly wallMs: number;
  readonly cpuMs: number;
  readonly jobs: number;
}

const FAILING_SEEDS_KEPT = 50;

/** Join case results into the report (cases sorted by index; a row per configuration of the matrix). */
export function buildReport(
  matrix: CampaignMatrix,
  shard: Shard,
  results: readonly CaseResult[],
  flags: { complete: boolean; interrupted: boolean; stoppedOnFailure: boolean },
  timing: CampaignTiming,
): CampaignDocument {
  const cases = [...results].sort((a, b) => a.index - b.index);
  const rows = new Map<string, { cases: number; ops: number; stale: number; violations: number; seeds: number[] }>();
  for (const name of matrix.configurations) rows.set(name, { cases: 0, ops: 0, stale: 0, violations: 0, seeds: [] });
  let ops = 0;
  let stale = 0;
  let violations = 0;
  let failing = 0;
  for (const c of cases) {
    const r = rows.get(c.config);
    if (r === undefined) throw new Error(`case ${c.index}: configuration ${c.config} is not in the matrix`);
    r.cases++;
    r.ops += c.ops;
    r.stale += c.stale;
    r.violations += c.violations;
    if (!c.ok) {
      r.seeds.push(c.seed);
      failing++;
    }
    ops += c.ops;
    stale += c.stale;
    violations += c.violations;
  }
  return {
    kind: 'campaign',
    matrix,
    shard,
    ...flags,
    totals: { cases: cases.length, ops, stale, violations, failingCases: failing },
    configurations: matrix.configurations.map((config) => {
      const r = rows.get(config)!;
      const seeds = [...r.seeds].sort((a, b) => a - b);
      return {
        config,
        cases: r.cases,
        ops: r.ops,
        stale: r.stale,
        violations: r.violations,
        failingSeeds: seeds.slice(0, FAILING_SEEDS_KEPT),
        failingCases: seeds.length,
      };
    }),
    cases,
    timing,
  };
}

/** A merge problem: the message names the file at fault. */
export class MergeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MergeError';
  }
}

/**
 * Join the reports of shards 1..N of one campaign into the report the unsharded run gives (timing summed:
 * wall is the longest shard's, CPU the sum). Every shard must be present once, all of the same matrix.
 */
export function mergeReports(docs: readonly { name: string; doc: CampaignDocument }[]): CampaignDocument {
  if (docs.length === 0) throw new MergeError('campaign merge needs at least one report');
  const first = docs[0]!;
  const n = first.doc.shard.n;
  const matrix = JSON.stringify(first.doc.matrix);
  const seen = new Map<number, string>();
  for (const { name, doc } of docs) {
    if (doc.kind !== 'campaign' || !Array.isArray(doc.cases))
      throw new MergeError(`${name}: not a campaign report (campaign --json)`);
    if (JSON.stringify(doc.matrix) !== matrix)
      throw new MergeError(`${name}: a different matrix (axes, seeds, ops or fault) from ${first.name}'s`);
    if (doc.shard.n !== n) throw new MergeError(`${name}: shard ${doc.shard.k}/${doc.shard.n}, others are of ${n}`);
    const dup = seen.get(doc.shard.k);
    if (dup !== undefined) throw new MergeError(`${name}: shard ${doc.shard.k}/${n} again (also ${dup})`);
    seen.set(doc.shard.k, name);
  }
  const missing: number[] = [];
  for (let k = 1; k <= n; k++) if (!seen.has(k)) missing.push(k);
  if (missing.length > 0)
    throw new MergeError(`shard${missing.length > 1 ? 's' : ''} ${missing.map((k) => `${k}/${n}`).join(', ')} missing`);
  const all = docs.flatMap((d) => d.doc.cases);
  return buildReport(
    first.doc.matrix,
    { k: 1, n: 1 },
    all,
    {
      complete: docs.every((d) => d.doc.complete),
      interrupted: docs.some((d) => d.doc.interrupted),
      stoppedOnFailure: docs.some((d) => d.doc.stoppedOnFailure),
    },
    {
      wallMs: Math.max(...docs.map((d) => d.doc.timing.wallMs)),
      cpuMs: docs.reduce((s, d) => s + d.doc.timing.cpuMs, 0),
      jobs: docs.reduce((s, d) => s + d.doc.timing.jobs, 0),
    },
  );
}

function num(n: number): string {
  return n.toLocaleString('en-US');
}

function seconds(ms: number): string {
  return ms >= 120_000 ? `${(ms / 60_000).toFixed(1)} min` : `${(ms / 1000).toFixed(1)} s`;
}

/** The human summary: totals, a table row per configuration that ran, the failing cases. */
export function formatReport(doc: CampaignDocument, replayPath?: (c: CaseResult) => string | null): string[] {
  const t = doc.totals;
  const m = doc.matrix;
  const lines: string[] = [];
  const state = doc.interrupted
    ? 'interrupted (partial report)'
    : doc.stoppedOnFailure
      ? 'stopped at the first failure'
      : doc.complete
        ? 'complete'
        : 'ended by the time budget';
  const shard = doc.shard.n > 1 ? `, shard ${doc.shard.k}/${doc.shard.n}` : '';
  lines.push(
    `campaign: ${m.configurations.length} configurations, seeds ${m.seeds.first}..${m.seeds.last ?? ''}, ` +
      `ops ${m.ops ?? 'default'}, fault ${m.fault ?? 'none'}${shard}: ${state}`,
  );
  const wall = doc.timing.wallMs;
  lines.push(
    `cases ${num(t.cases)}, operations ${num(t.ops)}, stale ${num(t.stale)}, violations ${num(t.violations)}, ` +
      `failing cases ${num(t.failingCases)}`,
  );
  lines.push(
    `time ${seconds(wall)} wall, ${seconds(doc.timing.cpuMs)} CPU, ${doc.timing.jobs} job${doc.timing.jobs === 1 ? '' : 's'}` +
      (wall > 0 ? `, ${num(Math.round((t.ops * 1000) / wall))} ops per wall-second` : ''),
  );
  lines.push('');
  const rows = doc.configurations.filter((r) => r.cases > 0);
  const w = Math.max(13, ...rows.map((r) => r.config.length));
  lines.push(
    `${'configuration'.padEnd(w)}  ${'cases'.padStart(6)}  ${'ops'.padStart(12)}  ${'stale'.padStart(8)}  failing seeds`,
  );
  for (const r of rows) {
    const seeds =
      r.failingCases === 0
        ? '-'
        : r.failingSeeds.join(',') +
          (r.failingCases > r.failingSeeds.length ? ` (+${r.failingCases - r.failingSeeds.length})` : '');
    lines.push(
      `${r.config.padEnd(w)}  ${String(r.cases).padStart(6)}  ${num(r.ops).padStart(12)}  ` +
        `${num(r.stale + r.violations).padStart(8)}  ${seeds}`,
    );
  }
  const failing = doc.cases.filter((c) => !c.ok);
  if (failing.length > 0) {
    lines.push('');
    lines.push(`failing cases (${failing.length}${failing.length > 20 ? ', the first 20 shown' : ''}):`);
    for (const c of failing.slice(0, 20)) {
      lines.push(`  ${c.config} seed ${c.seed}: ${c.stale} stale, ${c.violations} violations`);
      if (c.first !== null) lines.push(`    first: ${c.first}`);
      const cx = c.counterexample;
      if (cx !== undefined && cx !== null)
        lines.push(
          `    shrunk from ${cx.found} to ${cx.shrunk} operations in ${cx.tests} replays${cx.exhausted ? ' (budget ran out)' : ''}`,
        );
      const file = replayPath?.(c) ?? null;
      lines.push(`    reproduce: ${file !== null ? `smmuv3-tlbi simulate --replay ${file}` : c.reproduce}`);
    }
  }
  return lines;
}

function xml(s: string): string {
  // XML 1.0 has no place for most control characters, even escaped.
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '?').replace(/[&<>"']/g, (ch) => {
    switch (ch) {
      case '&':
        return '&amp;';
      case '<':
        return '&lt;';
      case '>':
        return '&gt;';
      case '"':
        return '&quot;';
      default:
        return '&apos;';
    }
  });
}

function secs(ms: number): string {
  return (ms / 1000).toFixed(3);
}

function failureText(c: CaseResult): string {
  const parts = [`${c.stale} stale translations, ${c.violations} violations`];
  if (c.first !== null) parts.push(`first: ${c.first}`);
  if (c.counterexample != null) parts.push(`shrunk to ${c.counterexample.shrunk} operations`);
  parts.push(`reproduce: ${c.reproduce}`);
  return parts.join('\n');
}

/** The cases of a campaign grouped by configuration name, in case order. */
function casesByConfig(doc: CampaignDocument): Map<string, CaseResult[]> {
  const by = new Map<string, CaseResult[]>();
  for (const c of doc.cases) {
    let l = by.get(c.config);
    if (l === undefined) by.set(c.config, (l = []));
    l.push(c);
  }
  return by;
}

/** JUnit XML (the Ant/Jenkins schema): a testsuite per configuration, a testcase per seed. */
export function junitXml(doc: CampaignDocument): string {
  const by = casesByConfig(doc);
  const time = (l: readonly CaseResult[]): number => l.reduce((s, c) => s + c.time.runMs + c.time.shrinkMs, 0);
  const out: string[] = ['<?xml version="1.0" encoding="UTF-8"?>'];
  out.push(
    `<testsuites name="smmuv3-tlbi campaign" tests="${doc.cases.length}" failures="${doc.totals.failingCases}" errors="0" time="${secs(doc.timing.wallMs)}">`,
  );
  let id = 0;
  for (const config of doc.matrix.configurations) {
    const l = by.get(config);
    if (l === undefined) continue;
    const fails = l.filter((c) => !c.ok).length;
    out.push(
      `  <testsuite name="${xml(config)}" id="${id++}" tests="${l.length}" failures="${fails}" errors="0" skipped="0" time="${secs(time(l))}">`,
    );
    for (const c of l) {
      const head = `    <testcase classname="${xml(config)}" name="seed ${c.seed}" time="${secs(c.time.runMs + c.time.shrinkMs)}"`;
      if (c.ok) out.push(`${head}/>`);
      else {
        out.push(`${head}>`);
        const msg = `${c.stale} stale translations, ${c.violations} violations`;
        out.push(
          `      <failure message="${xml(msg)}" type="${c.stale > 0 ? 'stale' : 'violation'}">${xml(failureText(c))}</failure>`,
        );
        out.push('    </testcase>');
      }
    }
    out.push('  </testsuite>');
  }
  out.push('</testsuites>');
  return out.join('\n') + '\n';
}

/** KTAP text (version 1, as kunit prints it): a test per configuration, a subtest per seed. */
export function ktapText(doc: CampaignDocument): string {
  const by = casesByConfig(doc);
  const configs = doc.matrix.configurations.filter((c) => by.has(c));
  // Names may not hold '#' (it starts a directive or a diagnostic); the names here never do.
  const clean = (s: string): string => s.replace(/#/g, '_').replace(/\n/g, ' ');
  const out: string[] = ['KTAP version 1', `1..${configs.length}`];
  configs.forEach((config, i) => {
    const l = by.get(config)!;
    out.push('    KTAP version 1', `    # Subtest: ${clean(config)}`, `    1..${l.length}`);
    l.forEach((c, j) => {
      if (!c.ok) for (const line of failureText(c).split('\n')) out.push(`    # ${clean(line)}`);
      out.push(`    ${c.ok ? 'ok' : 'not ok'} ${j + 1} seed ${c.seed}`);
    });
    out.push(`${l.every((c) => c.ok) ? 'ok' : 'not ok'} ${i + 1} ${clean(config)}`);
  });
  return out.join('\n') + '\n';
}

/** The report with everything that depends on time removed (for comparisons). */
export function withoutTiming(doc: CampaignDocument): unknown {
  const { timing: _timing, cases, ...rest } = doc;
  return {
    ...rest,
    cases: cases.map((c) => {
      const { time: _time, ...r } = c;
      return r;
    }),
  };
}
