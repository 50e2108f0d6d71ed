/**
 * The SMMUv3 registers by name and width (IHI 0070 §6.2 register map, described one by one in §6.3):
 * Page 0, Page 1, the VATOS pages, the Secure (SMMU_S_*), Root (SMMU_ROOT_*) and Realm (SMMU_R_*)
 * registers, and the enhanced command queue registers. Names are written without the `SMMU_` prefix,
 * the way the samples and `capture` write them; the registers schema accepts either form.
 */

/** 64-bit registers; every other register here is 32-bit. */
const WIDE = new Set([
  'S2PII',
  'GERROR_IRQ_CFG0',
  'STRTAB_BASE',
  'CMDQ_BASE',
  'EVENTQ_BASE',
  'EVENTQ_IRQ_CFG0',
  'PRIQ_BASE',
  'PRIQ_IRQ_CFG0',
  'GATOS_SID',
  'GATOS_ADDR',
  'GATOS_PAR',
  'DPT_BASE',
  'DPT_CFG_FAR',
  'VATOS_SID',
  'VATOS_ADDR',
  'VATOS_PAR',
  'ECMDQ_BASE',
  'CMDQ_CONTROL_PAGE_BASE',
  'ROOT_GPT_BASE',
  'ROOT_GPT_BASE_CFG',
  'ROOT_GPF_FAR',
  'ROOT_GPT_CFG_FAR',
  'ROOT_TLBI',
  'ROOT_GPT_BASE2',
]);

/** Non-secure Page 0 and Page 1 (and the VATOS page) registers. */
const NON_SECURE = [
  'IDR0',
  'IDR1',
  'IDR2',
  'IDR3',
  'IDR4',
  'IDR5',
  'IDR6',
  'IIDR',
  'AIDR',
  'CR0',
  'CR0ACK',
  'CR1',
  'CR2',
  'S2PII',
  'STATUSR',
  'GBPA',
  'AGBPA',
  'IRQ_CTRL',
  'IRQ_CTRLACK',
  'GERROR',
  'GERRORN',
  'GERROR_IRQ_CFG0',
  'GERROR_IRQ_CFG1',
  'GERROR_IRQ_CFG2',
  'STRTAB_BASE',
  'STRTAB_BASE_CFG',
  'CMDQ_BASE',
  'CMDQ_PROD',
  'CMDQ_CONS',
  'EVENTQ_BASE',
  'EVENTQ_PROD',
  'EVENTQ_CONS',
  'EVENTQ_IRQ_CFG0',
  'EVENTQ_IRQ_CFG1',
  'EVENTQ_IRQ_CFG2',
  'PRIQ_BASE',
  'PRIQ_PROD',
  'PRIQ_CONS',
  'PRIQ_IRQ_CFG0',
  'PRIQ_IRQ_CFG1',
  'PRIQ_IRQ_CFG2',
  'GATOS_CTRL',
  'GATOS_SID',
  'GATOS_ADDR',
  'GATOS_PAR',
  'MPAMIDR',
  'GMPAM',
  'GBPMPAM',
  'VATOS_SEL',
  'DPT_BASE',
  'DPT_BASE_CFG',
  'DPT_CFG_FAR',
  'VATOS_CTRL',
  'VATOS_SID',
  'VATOS_ADDR',
  'VATOS_PAR',
  'ECMDQ_BASE',
  'ECMDQ_PROD',
  'ECMDQ_CONS',
];

/** Secure copies (SMMU_S_*): the Non-secure set less IIDR/AIDR/IDR5/STATUSR, the PRI queue, DPT and ECMDQ; plus S_INIT. */
const SECURE_ONLY_MISSING = new Set([
  'IDR5',
  'STATUSR',
  'IIDR',
  'AIDR',
  'PRIQ_BASE',
  'PRIQ_PROD',
  'PRIQ_CONS',
  'PRIQ_IRQ_CFG0',
  'PRIQ_IRQ_CFG1',
  'PRIQ_IRQ_CFG2',
  'DPT_BASE',
  'DPT_BASE_CFG',
  'DPT_CFG_FAR',
  'ECMDQ_BASE',
  'ECMDQ_PROD',
  'ECMDQ_CONS',
]);

/** Realm Page 0/1 (SMMU_R_*): no IIDR, IDR5, STATUSR, GBPMPAM, ATOS or ECMDQ registers; MECIDR and GMECID added. */
const REALM_MISSING = new Set([
  'IDR5',
  'STATUSR',
  'IIDR',
  'GBPMPAM',
  'GATOS_CTRL',
  'GATOS_SID',
  'GATOS_ADDR',
  'GATOS_PAR',
  'VATOS_SEL',
  'VATOS_CTRL',
  'VATOS_SID',
  'VATOS_ADDR',
  'VATOS_PAR',
  'ECMDQ_BASE',
  'ECMDQ_PROD',
  'ECMDQ_CONS',
]);

const ROOT = [
  'ROOT_IDR0',
  'ROOT_IIDR',
  'ROOT_CR0',
  'ROOT_CR0ACK',
  'ROOT_GPT_BASE',
  'ROOT_GPT_BASE_CFG',
  'ROOT_GPF_FAR',
  'ROOT_GPT_CFG_FAR',
  'ROOT_TLBI',
  'ROOT_TLBI_CTRL',
  'ROOT_GPT_BASE2',
  'ROOT_GPT_BASE_UPDATE',
];

/** Registers repeated per command queue control page n (`CMDQ_CONTROL_PAGE_BASE0`, …), per security state. */
export const INDEXED = ['CMDQ_CONTROL_PAGE_BASE', 'CMDQ_CONTROL_PAGE_CFG', 'CMDQ_CONTROL_PAGE_STATUS'] as const;

export interface RegisterInfo {
  readonly name: string;
  readonly bits: 32 | 64;
}

function build(): RegisterInfo[] {
  const names: string[] = [...NON_SECURE];
  for (const n of NON_SECURE) if (!SECURE_ONLY_MISSING.has(n)) names.push(`S_${n}`);
  names.push('S_INIT');
  for (const n of NON_SECURE) if (!REALM_MISSING.has(n)) names.push(`R_${n}`);
  names.push('R_MECIDR', 'R_GMECID');
  names.push(...ROOT);
  return names.map((name) => ({ name, bits: WIDE.has(name.replace(/^[SR]_/, '')) ? 64 : 32 }));
}

/** Every named register (without the SMMU_ prefix), in map order. */
export const REGISTERS: readonly RegisterInfo[] = build();

/** Width of an indexed register's base name (after S_/R_ and before its index). */
export function indexedBits(base: string): 32 | 64 {
  return WIDE.has(base) ? 64 : 32;
}
