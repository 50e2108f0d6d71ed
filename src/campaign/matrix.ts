/**
 * A campaign's configuration matrix: the axes (each with the values that exist), the rules that say which
 * values combine, the product as an ordered list of configurations, the (configuration, seed) cases and the
 * deterministic shards of that list. Free of Node APIs; the CLI parses flags / a JSON file into `AxisValues`.
 *
 * What combines (the workload and the scenarios in src/sim):
 * - `scenario workload` is the randomized map/unmap workload: every axis applies. E2H (CR2.E2H, EL2-E2H
 *   address spaces) exists with stage 1 only. `force-sync` is an SMMU with the MMU-700 erratum 2812531 (the
 *   engine then syncs before 64 commands), `repeat` one with the Tegra264 erratum (every TLBI/CFGI batch is
 *   issued twice); an SMMU has one implementation, so the two are not combined.
 * - `driver`, `pkvm`, `nested` are the end-to-end scenarios: they choose their own stages, SMMUs and errata
 *   (the driver scenario already has a force-sync SMMU and an E2H SMMU), so only granule, RIL, ATS and policy
 *   apply to them.
 */

export const SCENARIOS = ['workload', 'driver', 'pkvm', 'nested'] as const;
export type CampaignScenario = (typeof SCENARIOS)[number];

/** The axes, in the order of the configuration names, with every value they have. */
export const AXES = {
  scenario: SCENARIOS,
  stage: ['1', '2', 'nested'],
  granule: ['4K', '16K', '64K'],
  ril: ['on', 'off'],
  ats: ['on', 'off'],
  e2h: ['on', 'off'],
  policy: ['linux', 'tlbi'],
  'force-sync': ['on', 'off'],
  repeat: ['on', 'off'],
} as const;
export type AxisName = keyof typeof AXES;
export const AXIS_NAMES = Object.keys(AXES) as AxisName[];

/** Values chosen per axis (missing axis: every value). */
export type AxisValues = Partial<Record<AxisName, readonly string[]>>;

/** One configuration of the product. Axes that do not apply to a scenario are absent. */
export interface CaseConfig {
  readonly scenario: CampaignScenario;
  readonly granule: 4096 | 16384 | 65536;
  readonly ril: boolean;
  readonly ats: boolean;
  readonly policy: 'linux' | 'tlbi';
  readonly stage?: '1' | '2' | 'nested';
  readonly e2h?: boolean;
  readonly forceSync?: boolean;
  readonly repeat?: boolean;
}

/** A bad matrix: the message names the flag (or JSON key) at fault. */
export class MatrixError extends Error {
  constructor(
    readonly flag: string,
    message: string,
  ) {
    super(message);
    this.name = 'MatrixError';
  }
}

const GRANULE_BYTES = { '4K': 4096, '16K': 16384, '64K': 65536 } as const;
const GRANULE_NAME = { 4096: '4K', 16384: '16K', 65536: '64K' } as const;

/** Check one axis's values (known, no duplicates, not empty); returns them in the axis's own order. */
export function checkAxis(axis: AxisName, values: readonly string[]): string[] {
  const known = AXES[axis] as readonly string[];
  if (values.length === 0) throw new MatrixError(`--${axis}`, `--${axis} needs at least one value`);
  for (const v of values)
    if (!known.includes(v))
      throw new MatrixError(`--${axis}`, `--${axis} must be among ${known.join(', ')} (got ${JSON.stringify(v)})`);
  return known.filter((v) => values.includes(v));
}

/** The configuration's name: its applicable axes as `axis=value`, in axis order, joined by spaces. */
export function configName(c: CaseConfig): string {
  const parts = [`scenario=${c.scenario}`];
  if (c.stage !== undefined) parts.push(`stage=${c.stage}`);
  parts.push(`granule=${GRANULE_NAME[c.granule]}`, `ril=${c.ril ? 'on' : 'off'}`, `ats=${c.ats ? 'on' : 'off'}`);
  if (c.e2h !== undefined) parts.push(`e2h=${c.e2h ? 'on' : 'off'}`);
  parts.push(`policy=${c.policy}`);
  if (c.forceSync !== undefined) parts.push(`force-sync=${c.forceSync ? 'on' : 'off'}`);
  if (c.repeat !== undefined) parts.push(`repeat=${c.repeat ? 'on' : 'off'}`);
  return parts.join(' ');
}

/** Axes of the randomized workload only. */
const WORKLOAD_AXES: readonly AxisName[] = ['stage', 'e2h', 'force-sync', 'repeat'];

/**
 * The product of the chosen values, keeping only combinations that exist (see the file comment), in a fixed
 * order (axis order, values in each axis's own order). An empty product is a MatrixError naming the flag
 * whose values left nothing.
 */
export function expandMatrix(chosen: AxisValues): CaseConfig[] {
  const v = {} as Record<AxisName, string[]>;
  for (const a of AXIS_NAMES) v[a] = chosen[a] === undefined ? [...AXES[a]] : checkAxis(a, chosen[a]!);
  if (!v.scenario.includes('workload'))
    for (const a of WORKLOAD_AXES)
      if (chosen[a] !== undefined)
        throw new MatrixError(
          `--${a}`,
          `--${a} applies to --scenario workload only (the scenarios ${v.scenario.join(', ')} choose their own)`,
        );
  const on = (s: string): boolean => s === 'on';
  const out: CaseConfig[] = [];
  // Why combinations were dropped, to name a flag when nothing is left.
  const dropped = new Set<AxisName>();
  for (const scenario of v.scenario as CampaignScenario[]) {
    const workload = scenario === 'workload';
    for (const stage of workload ? v.stage : [undefined]) {
      for (const granule of v.granule)
        for (const ril of v.ril)
          for (const ats of v.ats) {
            for (const e2h of workload ? v.e2h : [undefined]) {
              if (e2h === 'on' && stage !== '1') {
                dropped.add('e2h');
                continue;
              }
              for (const policy of v.policy)
                for (const fs of workload ? v['force-sync'] : [undefined])
                  for (const rep of workload ? v.repeat : [undefined]) {
                    if (fs === 'on' && rep === 'on') {
                      dropped.add('repeat');
                      continue;
                    }
                    out.push({
                      scenario,
                      ...(stage !== undefined ? { stage: stage as '1' | '2' | 'nested' } : {}),
                      granule: GRANULE_BYTES[granule as '4K'],
                      ril: on(ril),
                      ats: on(ats),
                      ...(e2h !== undefined ? { e2h: on(e2h) } : {}),
                      policy: policy as 'linux' | 'tlbi',
                      ...(fs !== undefined ? { forceSync: on(fs) } : {}),
                      ...(rep !== undefined ? { repeat: on(rep) } : {}),
                    });
                  }
            }
          }
    }
  }
  if (out.length === 0) {
    if (dropped.has('e2h') && !v.e2h.includes('off'))
      throw new MatrixError(
        '--e2h',
        `--e2h ${v.e2h.join(',')} leaves no configuration: E2H exists with --scenario workload --stage 1 only`,
      );
    if (dropped.has('repeat'))
      throw new MatrixError(
        '--repeat',
        `--repeat on with --force-sync on leaves no configuration: an SMMU has one of the two errata, not both`,
      );
    throw new MatrixError('--scenario', 'the matrix has no configuration');
  }
  return out;
}

/** An inclusive seed range; `last` null: open-ended (a time budget ends the campaign). */
export interface SeedRange {
  readonly first: number;
  readonly last: number | null;
}

/** Parse `A..B` (inclusive), `A..` (open-ended) or `A` (one seed). */
export function parseSeeds(text: string, flag = '--seeds'): SeedRange {
  const m = /^(\d+)(?:\.\.(\d*))?$/.exec(text.trim());
  if (m === null) throw new MatrixError(flag, `${flag} must be A..B, A.. or A (got ${JSON.stringify(text)})`);
  const first = Number(m[1]);
  const last = m[2] === undefined ? first : m[2] === '' ? null : Number(m[2]);
  if (!Number.isSafeInteger(first) || first > 0xffff_ffff || (last !== null && !Number.isSafeInteger(last)))
    throw new MatrixError(flag, `${flag}: seeds are integers from 0 to 4294967295 (got ${JSON.stringify(text)})`);
  if (last !== null && (last < first || last > 0xffff_ffff))
    throw new MatrixError(flag, `${flag}: ${text} is an empty range (B must be at least A and at most 4294967295)`);
  return { first, last };
}

/** Shard K of N (1-based K): the cases whose index is K-1 modulo N. */
export interface Shard {
  readonly k: number;
  readonly n: number;
}

export function parseShard(text: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  if (m === null) throw new MatrixError('--shard', `--shard must be K/N (got ${JSON.stringify(text)})`);
  const k = Number(m[1]);
  const n = Number(m[2]);
  if (n < 1 || n > 1_000_000 || k < 1 || k > n)
    throw new MatrixError('--shard', `--shard ${text}: K must be from 1 to N (N at most 1000000)`);
  return { k, n };
}

/** One case: a configuration of the matrix and a seed; `index` numbers cases seed-major over the matrix. */
export interface CaseRef {
  readonly index: number;
  readonly config: number;
  readonly seed: number;
}

/**
 * The cases of a campaign in order: for each seed, every configuration. Index i is configuration
 * i mod C with seed first + floor(i / C). A shard keeps the indices ≡ K-1 (mod N) — disjoint parts whose
 * union is the whole, decided by nothing but the matrix, the seeds and K/N. Open-ended seeds: infinite.
 */
export function* caseRefs(configs: number, seeds: SeedRange, shard: Shard = { k: 1, n: 1 }): Generator<CaseRef> {
  const total = seeds.last === null ? Infinity : (seeds.last - seeds.first + 1) * configs;
  for (let i = shard.k - 1; i < total; i += shard.n) {
    const s = Math.floor(i / configs);
    yield { index: i, config: i - s * configs, seed: seeds.first + s };
  }
}

/** How many cases a shard holds (fixed seed range). */
export function shardSize(configs: number, seeds: SeedRange, shard: Shard): number {
  if (seeds.last === null) return Infinity;
  const total = (seeds.last - seeds.first + 1) * configs;
  return total <= shard.k - 1 ? 0 : Math.floor((total - shard.k) / shard.n) + 1;
}
