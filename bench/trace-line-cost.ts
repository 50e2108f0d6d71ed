/**
 * Per-byte cost of the trace parser and the text-dump reader on long lines (issue 18 item 2; run:
 * `npx tsx bench/trace-line-cost.ts [rounds] [MiB]`). The same bytes are fed as 1 KB lines and as 1 MB lines of
 * hostile content (identifier runs, `key=` runs, repeated `CMDQ error (cons …):`), and the median ns/byte of
 * each is printed with the ratio 1 MB / 1 KB, which must stay ≤ 2 (linear time: no backtracking). Lines
 * longer than the parser's cap are counted and skipped, which is also linear. CPU time (process.cpuUsage).
 */
import { parseQemuTrace } from '../src/audit/index.js';
import { parseTextDump } from '../src/textdump/index.js';

const ROUNDS = Number(process.argv[2] ?? 7);
const TOTAL = Number(process.argv[3] ?? 64) << 20; // bytes per measurement (MiB, second argument)

function cpuNs(f: () => void): number {
  const t = process.cpuUsage();
  f();
  const d = process.cpuUsage(t);
  return (d.user + d.system) * 1000;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

const UNITS: Record<string, string> = {
  letters: 'a',
  'key=': 'ab=',
  'cmdq-error': 'CMDQ error (cons 0x1): ',
};

function traceOf(unit: string, lineBytes: number): string {
  const line = 'smmuv3_cmdq_cfgi_ste ' + unit.repeat(Math.ceil(lineBytes / unit.length)).slice(0, lineBytes);
  const n = Math.max(1, Math.floor(TOTAL / lineBytes));
  return `smmuv3_cmdq_opcode <--- SMMU_CMD_CFGI_STE\n${(line + '\n').repeat(n)}smmuv3_cmdq_opcode <--- SMMU_CMD_SYNC\n`;
}

function safe(f: () => unknown): void {
  try {
    f();
  } catch {
    // a refused input is still measured: the cost of refusing it must be linear too
  }
}

for (const [name, unit] of Object.entries(UNITS)) {
  const perByte: Record<string, number> = {};
  for (const lineBytes of [1 << 10, 1 << 20]) {
    const trace = traceOf(unit, lineBytes);
    const text = trace.split('\n').slice(1, -2).join('\n');
    const t = median(Array.from({ length: ROUNDS }, () => cpuNs(() => safe(() => parseQemuTrace(trace)))));
    const d = median(Array.from({ length: ROUNDS }, () => cpuNs(() => safe(() => parseTextDump(text, 'in')))));
    perByte[`trace ${lineBytes}`] = t / trace.length;
    perByte[`text ${lineBytes}`] = d / text.length;
  }
  for (const kind of ['trace', 'text']) {
    const small = perByte[`${kind} 1024`]!;
    const big = perByte[`${kind} 1048576`]!;
    console.log(
      `${name.padEnd(11)} ${kind.padEnd(5)} 1 KB lines ${small.toFixed(2)} ns/B, 1 MB lines ${big.toFixed(2)} ns/B, ratio ${(big / small).toFixed(2)}`,
    );
  }
}
