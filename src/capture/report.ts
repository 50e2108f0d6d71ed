/** The capture audit as readable text and as a JSON document. */
import { reportToJson } from '../audit/index.js';
import type { CaptureReport } from './audit.js';
import { CAPTURE_RULES, EVIDENCE } from './coverage.js';

function hex(n: number): string {
  return '0x' + n.toString(16);
}

export interface CaptureFormatOptions {
  readonly maxFindings?: number;
}

export function formatCaptureReport(rep: CaptureReport, o: CaptureFormatOptions = {}): string {
  const f = rep.facts;
  const c = rep.counts;
  const rp = rep.reproduction;
  const L: string[] = [];
  L.push(`capture: ${f.kernel ?? 'kernel unknown'}${f.kernelPackage ? ` (${f.kernelPackage})` : ''}`);
  L.push(
    `  QEMU ${f.qemu ?? 'version unknown'}${f.accel ? `, ${f.accel}` : ''}; driver generation ${f.generation ?? 'unknown'}; page size ${f.pageSize}`,
  );
  L.push(`  mode ${f.mode} (${f.modeFrom}); guest command line: ${f.guestCmdline ?? 'unknown'}`);
  const r = f.registers;
  L.push(
    `  IDR0=${r.IDR0 ?? '?'} IDR1=${r.IDR1 ?? '?'} IDR3=${r.IDR3 ?? '?'} IDR5=${r.IDR5 ?? '?'} CR0=${r.CR0 ?? '?'} CR2=${r.CR2 ?? '?'}`,
  );
  L.push(
    `  ring: 2^${f.ring.log2size} entries, PROD=${hex(f.ring.prod)} CONS=${hex(f.ring.cons)}, ${f.ring.entriesWritten} entries written while tracing${f.ring.wrapped ? ' — WRAPPED' : ''}`,
  );
  const ok = f.probes.filter((p) => p.ok).length;
  L.push(
    `  probes: ${ok} set${f.probes.length > ok ? `, ${f.probes.length - ok} failed` : ''}; ${f.traceEvents} trace events`,
  );
  const ev = rep.coverage.evidenceAvailable;
  L.push(
    `  evidence: return probe ${ev.returnProbe ? 'yes' : 'no'}, entry probe ${ev.entryProbe ? 'yes' : 'no'}, IOVA-free probe ${ev.freeIovaProbe ? 'yes' : 'no'}, iommu:map events ${ev.mapEvents ? 'yes' : 'no'}, command-list return ${ev.cmdlistReturn ? 'yes' : 'no'}`,
  );
  if (f.complete === false) L.push(`  INCOMPLETE capture: ${f.problems.join('; ')}`);
  for (const n of f.notes) L.push(`  note: ${n}`);
  L.push('');
  const callers = Object.entries(c.requestsByCaller)
    .map(([k, v]) => `${v} ${k}`)
    .join(', ');
  L.push(
    `requests: ${c.requests} (${callers})${c.otherCmdlists > 0 ? `; ${c.otherCmdlists} other command lists` : ''}`,
  );
  L.push(
    `unmaps: ${c.unmaps}, ${c.unmapsCovered} covered and completed in time${c.unmapsUnverifiable > 0 ? `, ${c.unmapsUnverifiable} not verifiable (ring overwritten)` : ''}; ${c.maps} iommu:map events`,
  );
  for (const [k, v] of Object.entries(rep.coverage.byEvidence))
    L.push(`  ${v} verdicts rest on: ${EVIDENCE[k as keyof typeof EVIDENCE]}`);
  L.push('');
  L.push(
    `reproduction: ${rp.identical} of ${rp.requests - rp.skipped} requests match the linux policy word for word${rp.skipped > 0 ? ` (${rp.skipped} not re-planned)` : ''}`,
  );
  L.push(`  stream: ${rp.stream.commands} commands + ${rp.stream.syncs} CMD_SYNC`);
  L.push(
    `  linux:  ${rp.linux.commands} commands + ${rp.linux.syncs} CMD_SYNC, ${rp.linux.pagesOverInvalidated} pages over-invalidated`,
  );
  L.push(
    `  tlbi:   ${rp.tlbi.commands} commands + ${rp.tlbi.syncs} CMD_SYNC, ${rp.tlbi.pagesOverInvalidated} pages over-invalidated`,
  );
  for (const d of rp.firstDifferences) {
    L.push(
      `  differs: request ${d.request} (trace line ${d.line}) ${d.fn}(${hex(d.iova)}, ${hex(d.size)}, granule ${hex(d.granule)}, ${d.leaf ? 'leaf' : 'walk'}) slots ${d.slots.join(',')}`,
    );
    L.push(`    ring:  ${d.stream.map((w) => w.join(' ')).join(' | ')}`);
    L.push(`    linux: ${d.linux.map((w) => w.join(' ')).join(' | ')}`);
  }
  L.push('');
  L.push(`ring rules (as audit --file): ${rep.ring.input.entries} entries, ${c.ringFindings} finding(s)`);
  for (const x of rep.ring.findings.slice(0, 5)) L.push(`  ${x.rule} at slot ${x.slot}: ${x.message}`);
  L.push('');
  const max = o.maxFindings ?? 20;
  if (c.findings === 0) L.push('verdict: 0 findings — every unmap was invalidated and completed in time');
  else {
    L.push(`verdict: ${c.findings} finding(s)`);
    for (const [k, v] of Object.entries(c.byRule))
      L.push(`  ${v} ${k}: ${CAPTURE_RULES[k as keyof typeof CAPTURE_RULES]}`);
    for (const x of rep.findings.slice(0, max))
      L.push(`  [${x.rule}] ${x.message}${x.evidence ? ` — evidence: ${x.evidence}` : ''}`);
    if (rep.findings.length > max) L.push(`  … ${rep.findings.length - max} more (--json lists all)`);
  }
  return L.join('\n') + '\n';
}

export function captureReportToJson(rep: CaptureReport): Record<string, unknown> {
  return {
    capture: rep.facts,
    counts: rep.counts,
    evidence: { available: rep.coverage.evidenceAvailable, verdicts: rep.coverage.byEvidence, meaning: EVIDENCE },
    findings: rep.findings.map((f) => ({ ...f, reason: CAPTURE_RULES[f.rule] })),
    unmaps: rep.coverage.unmaps.map((u) => ({ ...u, iova: hex(u.iova) })),
    reproduction: {
      ...rep.reproduction,
      firstDifferences: rep.reproduction.firstDifferences.map((d) => ({
        ...d,
        iova: hex(d.iova),
        size: hex(d.size),
        granule: hex(d.granule),
      })),
    },
    ring: reportToJson(rep.ring),
  };
}
