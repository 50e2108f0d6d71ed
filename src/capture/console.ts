/**
 * The guest's serial console of a capture: kernel messages, the capture's own lines, and the ftrace buffer
 * printed between markers. The marker prefix is `CAPTURE` for captures made by `smmuv3-tlbi capture` and
 * `ORACLE` for the shared samples (same layout):
 *
 *     CAPTURE: <free text>              facts (kernel, page size, driver generation, …)
 *     CAPTURE_SYM <addr> <type> <name>  the driver symbols found in /proc/kallsyms
 *     CAPTURE_PROBE ok|fail <definition> each kprobe the guest tried to set
 *     CAPTURE_STEP <text>               workload progress
 *     CAPTURE_TRACE_BEGIN … CAPTURE_TRACE_END   the ftrace buffer
 *     CAPTURE_FAIL <id> <text>          the guest gave up (no kprobe events, no driver, no device, …)
 *     CAPTURE_DONE                      the guest finished
 */
import { InputError } from '../parse.js';

export interface ConsoleProbe {
  readonly ok: boolean;
  readonly definition: string;
  /** The event name (`p:group/name …` → name). */
  readonly event: string;
  /** p (kprobe) or r (kretprobe). */
  readonly type: 'p' | 'r';
  /** The probed symbol or address. */
  readonly target: string;
}

export interface ConsoleSections {
  readonly prefix: 'CAPTURE' | 'ORACLE' | null;
  readonly facts: readonly string[];
  readonly symbols: readonly { addr: string; type: string; name: string }[];
  readonly probes: readonly ConsoleProbe[];
  readonly steps: readonly string[];
  /** The trace text between the markers and the line number of its first line (1-based). */
  readonly trace: string | null;
  readonly traceFirstLine: number;
  readonly done: boolean;
  /** `CAPTURE_FAIL <reason-id> <text>`: why the guest gave up. */
  readonly failure: { readonly id: string; readonly text: string } | null;
  /** `Linux version …` from the kernel log. */
  readonly linuxVersion: string | null;
  /** `Kernel command line: …`. */
  readonly kernelCmdline: string | null;
  /** Kernel messages that mean trouble (panic, Oops, BUG, soft lockup, SMMU event), at most 20. */
  readonly warnings: readonly string[];
}

export class ConsoleFormatError extends InputError {
  constructor(message: string) {
    super('guest console', message);
    this.name = 'ConsoleFormatError';
  }
}

/** Parse a probe definition as written to kprobe_events: `p:grp/name target args…`. */
export function parseProbeDefinition(def: string): { type: 'p' | 'r'; event: string; target: string } | null {
  const m = /^([pr])(?:\d+)?:(?:([^/\s]+)\/)?(\S+)\s+(\S+)/.exec(def.trim());
  if (!m) return null;
  return { type: m[1] as 'p' | 'r', event: m[3]!, target: m[4]! };
}

const WARN_RE = /Kernel panic|Oops|BUG:|soft lockup|CMD_SYNC timeout/;
const SMMU_WARN_RE = /event|error|timeout/;

/** A console line worth a warning. Found without `arm-smmu-v3.*(…)`, which is quadratic (ReDoS check, issue 18). */
function isWarning(line: string): boolean {
  if (WARN_RE.test(line)) return true;
  const k = line.indexOf('arm-smmu-v3');
  return k >= 0 && SMMU_WARN_RE.test(line.slice(k + 11));
}

export function parseConsole(text: string): ConsoleSections {
  const lines = text.split('\n');
  let prefix: 'CAPTURE' | 'ORACLE' | null = null;
  const facts: string[] = [];
  const symbols: { addr: string; type: string; name: string }[] = [];
  const probes: ConsoleProbe[] = [];
  const steps: string[] = [];
  const warnings: string[] = [];
  let trace: string | null = null;
  let traceFirstLine = 0;
  let done = false;
  let failure: { id: string; text: string } | null = null;
  let linuxVersion: string | null = null;
  let kernelCmdline: string | null = null;
  let inTrace = -1;
  const buf: string[] = [];
  for (let k = 0; k < lines.length; k++) {
    const raw = lines[k]!.replace(/\r$/, '');
    if (inTrace >= 0) {
      if (raw === `${prefix}_TRACE_END`) {
        trace = buf.join('\n');
        traceFirstLine = inTrace + 1;
        inTrace = -1;
      } else buf.push(raw);
      continue;
    }
    const pm = /^(CAPTURE|ORACLE)(_[A-Z_]+)?(:| |$)(.*)$/.exec(raw);
    if (pm) {
      if (prefix === null) prefix = pm[1] as 'CAPTURE' | 'ORACLE';
      if (pm[1] !== prefix) continue;
      const tag = pm[2] ?? '';
      const rest = pm[4]!.trim();
      if (tag === '' && pm[3] === ':') facts.push(rest);
      else if (tag === '_SYM') {
        const s = rest.split(/\s+/);
        if (s.length >= 3) symbols.push({ addr: s[0]!, type: s[1]!, name: s[2]! });
      } else if (tag === '_PROBE') {
        const sm = /^(ok|fail)\s(.*)$/.exec(rest);
        const def = sm ? sm[2]!.trimStart() : '';
        const d = sm ? parseProbeDefinition(def) : null;
        if (sm && d) probes.push({ ok: sm[1] === 'ok', definition: def, ...d });
      } else if (tag === '_STEP') steps.push(rest);
      else if (tag === '_TRACE_BEGIN') {
        inTrace = k + 1;
        buf.length = 0;
      } else if (tag === '_DONE') done = true;
      else if (tag === '_FAIL') {
        const sp = rest.indexOf(' ');
        failure = sp < 0 ? { id: rest, text: '' } : { id: rest.slice(0, sp), text: rest.slice(sp + 1).trim() };
      }
      continue;
    }
    const body = raw.replace(/^\[\s*\d+\.\d+\]\s*/, '');
    if (linuxVersion === null && body.startsWith('Linux version ')) linuxVersion = body.slice(14).trim();
    if (kernelCmdline === null && body.startsWith('Kernel command line: ')) kernelCmdline = body.slice(21).trim();
    if (isWarning(body) && warnings.length < 20) warnings.push(body.trim());
  }
  if (inTrace >= 0)
    throw new ConsoleFormatError(
      `the trace that starts at line ${inTrace} has no ${prefix}_TRACE_END marker: the console was cut short`,
    );
  return {
    prefix,
    facts,
    symbols,
    probes,
    steps,
    trace,
    traceFirstLine,
    done,
    failure,
    linuxVersion,
    kernelCmdline,
    warnings,
  };
}
