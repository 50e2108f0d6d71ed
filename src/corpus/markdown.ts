/**
 * docs/bug-corpus.md, generated from the corpus records and the fault catalog (scripts/gen-bug-corpus.ts
 * writes it; test/corpus-records.test.ts fails when the committed file and the records disagree).
 */
import { CORPUS, caseAlias, type CorpusCase } from './cases.js';
import { listFaults } from './faults.js';

function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function row(cells: readonly string[]): string {
  return `| ${cells.map(cell).join(' | ')} |`;
}

function caughtAs(c: CorpusCase): string {
  switch (c.catch) {
    case 'fault': {
      const a = caseAlias(c);
      return `fault \`${c.fault ?? '?'}\`${a !== null ? ` (alias \`${a}\`)` : ''}`;
    }
    case 'engine-property':
      return 'engine property';
    case 'vector':
      return 'golden vector';
    case 'audit-rule':
      return 'audit rule';
    case 'out-of-reach':
      return 'out of reach';
  }
}

function caseTable(project: 'linux' | 'qemu'): string[] {
  const lines = [
    row(['Case', 'Upstream', 'Title', 'Year', 'Class', 'Layer', 'Caught as', 'Caught by', 'Status', 'Tests']),
    row(['---', '---', '---', '---', '---', '---', '---', '---', '---', '---']),
  ];
  for (const c of CORPUS.filter((x) => x.project === project)) {
    lines.push(
      row([
        c.id,
        c.commit ?? '—',
        c.title,
        String(c.year),
        c.class,
        c.layer,
        caughtAs(c),
        c.caughtBy,
        c.status,
        c.tests.length > 0 ? c.tests.map((t) => `\`${t}\``).join(', ') : '—',
      ]),
    );
  }
  return lines;
}

/** The whole document, ending with a newline. */
export function corpusMarkdown(): string {
  const counts = { caught: 0, planned: 0, 'out-of-reach': 0 };
  for (const c of CORPUS) counts[c.status]++;
  const L: string[] = [
    '# The SMMUv3 invalidation bug corpus',
    '',
    '<!-- Generated from src/corpus/ by `npm run docs:corpus`; do not edit by hand (test/corpus-records.test.ts compares). -->',
    '',
    "Every historical invalidation bug of Linux's arm-smmu-v3 driver (L1–L26) and of QEMU's SMMUv3 model (Q1–Q10),",
    'with how this project catches it. `simulate --fault NAME` (or an alias `linux-<commit>` / `qemu-<commit>`)',
    'replays a fault case with a configuration that reaches it; `simulate --list-faults` lists the faults.',
    '',
    `${CORPUS.length} cases: ${counts.caught} caught, ${counts.planned} planned, ${counts['out-of-reach']} out of reach.`,
    '',
    '## Linux',
    '',
    ...caseTable('linux'),
    '',
    '## QEMU',
    '',
    ...caseTable('qemu'),
    '',
    '## Not caught yet, and out of reach',
    '',
  ];
  for (const c of CORPUS) if (c.reason !== undefined) L.push(`- **${c.id}** (${c.status}): ${c.reason}`);
  L.push('', '## Faults', '');
  L.push(row(['Fault', 'Aliases', 'Cases', 'Class', 'Layer', 'Requires', 'Prefers', 'What it does', 'In a stream']));
  L.push(row(['---', '---', '---', '---', '---', '---', '---', '---', '---']));
  for (const f of listFaults()) {
    const setup = (s: object): string => {
      const parts = Object.entries(s).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : String(v)}`);
      return parts.length > 0 ? parts.join(', ') : '—';
    };
    L.push(
      row([
        `\`${f.name}\``,
        f.aliases.length > 0 ? f.aliases.map((a) => `\`${a}\``).join(', ') : '—',
        f.cases.join(', ') || '—',
        f.class,
        f.layer,
        setup(f.configuration.requires),
        setup(f.configuration.prefers),
        f.description,
        'rule' in f.inStream ? `audit rule \`${f.inStream.rule}\`` : `not visible: ${f.inStream.reason}`,
      ]),
    );
  }
  L.push('');
  return L.join('\n');
}
