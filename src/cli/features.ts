import { InputError } from '../parse.js';
import type { SmmuFeatures } from '../cmdq/index.js';

const FLAGS: Record<string, keyof SmmuFeatures> = {
  stage1: 'stage1',
  s1: 'stage1',
  stage2: 'stage2',
  s2: 'stage2',
  ats: 'ats',
  pri: 'pri',
  hyp: 'hyp',
  ril: 'ril',
  mpam: 'mpam',
  ds: 'ds',
  asid16: 'asid16',
  vmid16: 'vmid16',
};

/** "no-stage2,ds,stall-model=1,atc-size-above-52=unknown" → features, starting from `base`. */
export function parseFeatureList(list: string, base: SmmuFeatures): SmmuFeatures {
  const out: Record<string, unknown> = { ...base };
  for (const raw of list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^stall-model=([0-2])$/.exec(raw);
    if (m) {
      out.stallModel = Number(m[1]);
      continue;
    }
    const atc = /^atc-size-above-52=(illegal|unknown)$/.exec(raw);
    if (atc) {
      out.atcSizeAbove52 = atc[1];
      continue;
    }
    const neg = raw.startsWith('no-');
    const name = neg ? raw.slice(3) : raw;
    // Own keys only: `constructor`, `__proto__`, `toString` are not features.
    const key = Object.hasOwn(FLAGS, name) ? FLAGS[name] : undefined;
    if (!key)
      throw new InputError(
        '--features',
        `unknown feature ${JSON.stringify(raw)} (known: ${Object.keys(FLAGS).join(', ')}, stall-model=N, atc-size-above-52=illegal|unknown; prefix no- to disable)`,
      );
    out[key] = !neg;
  }
  return out as unknown as SmmuFeatures;
}
