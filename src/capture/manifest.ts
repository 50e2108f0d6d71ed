/**
 * The manifest a capture writes (`manifest.json`): what was booted, how, what the guest set, what was read
 * back, and whether the capture is complete. `readManifest` checks a parsed document field by field and
 * names the first field that is wrong.
 */

import { InputError } from '../parse.js';

export const MANIFEST_SCHEMA_VERSION = 1;

export interface ManifestProbe {
  readonly definition: string;
  readonly ok: boolean;
}

export interface Manifest {
  readonly schemaVersion: 1;
  readonly tool: string;
  readonly complete: boolean;
  /** Why the capture is not complete (empty when complete). */
  readonly problems: readonly string[];
  readonly mode: 'strict' | 'lazy';
  readonly stage: 1 | 2;
  readonly kernel: {
    readonly release: string | null;
    readonly version: string | null;
    readonly package: string | null;
    readonly pageSize: number;
    /** Config facts the capture depends on, as the kernel's config file gives them (y/m/n or a value). */
    readonly config: Readonly<Record<string, string>>;
  };
  readonly qemu: {
    readonly version: string;
    readonly accel: 'tcg' | 'kvm';
    readonly cmdline: readonly string[];
  };
  readonly guestCmdline: string;
  readonly driver: {
    readonly generation: string | null;
    readonly probes: readonly ManifestProbe[];
  };
  /** SMMU registers as hex strings (the same keys as cmdq.json), and the ring geometry. */
  readonly registers: Readonly<Record<string, string | number>>;
  readonly ring: { readonly entriesWritten: number; readonly wrapped: boolean; readonly lost: number };
  readonly trace: { readonly events: number; readonly lostEvents: number };
  readonly times: {
    readonly start: string;
    readonly end: string;
    /** Milliseconds from QEMU start to the first guest line of the capture, to the workload end, and overall. */
    readonly bootMs: number | null;
    readonly workloadMs: number | null;
    readonly totalMs: number;
  };
  readonly files: Readonly<Record<string, string>>;
}

export class ManifestError extends InputError {
  constructor(field: string, message: string) {
    super(`manifest.json: ${field}`, message);
    this.name = 'ManifestError';
  }
}

type Obj = Record<string, unknown>;

function obj(v: unknown, field: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ManifestError(field, 'expected an object');
  return v as Obj;
}
function str(v: unknown, field: string): string {
  if (typeof v !== 'string') throw new ManifestError(field, 'expected a string');
  return v;
}
function strOrNull(v: unknown, field: string): string | null {
  return v === null ? null : str(v, field);
}
function int(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
    throw new ManifestError(field, 'expected a non-negative integer');
  return v;
}
function intOrNull(v: unknown, field: string): number | null {
  return v === null ? null : int(v, field);
}
function bool(v: unknown, field: string): boolean {
  if (typeof v !== 'boolean') throw new ManifestError(field, 'expected true or false');
  return v;
}
function strings(v: unknown, field: string): string[] {
  if (!Array.isArray(v)) throw new ManifestError(field, 'expected an array of strings');
  return v.map((x, k) => str(x, `${field}[${k}]`));
}
function record<T>(v: unknown, field: string, each: (x: unknown, f: string) => T): Record<string, T> {
  const o = obj(v, field);
  const out: Record<string, T> = {};
  for (const [k, x] of Object.entries(o)) out[k] = each(x, `${field}.${k}`);
  return out;
}

/** Check a parsed manifest.json; throws ManifestError naming the field. */
export function readManifest(doc: unknown): Manifest {
  const o = obj(doc, '(top level)');
  if (o.schemaVersion !== MANIFEST_SCHEMA_VERSION)
    throw new ManifestError(
      'schemaVersion',
      `expected ${MANIFEST_SCHEMA_VERSION}, got ${JSON.stringify(o.schemaVersion)}`,
    );
  const mode = str(o.mode, 'mode');
  if (mode !== 'strict' && mode !== 'lazy')
    throw new ManifestError('mode', `expected "strict" or "lazy", got "${mode}"`);
  const stage = o.stage;
  if (stage !== 1 && stage !== 2) throw new ManifestError('stage', 'expected 1 or 2');
  const k = obj(o.kernel, 'kernel');
  const q = obj(o.qemu, 'qemu');
  const accel = str(q.accel, 'qemu.accel');
  if (accel !== 'tcg' && accel !== 'kvm') throw new ManifestError('qemu.accel', `expected "tcg" or "kvm"`);
  const d = obj(o.driver, 'driver');
  const probes = d.probes;
  if (!Array.isArray(probes)) throw new ManifestError('driver.probes', 'expected an array');
  const ring = obj(o.ring, 'ring');
  const trace = obj(o.trace, 'trace');
  const t = obj(o.times, 'times');
  const regs = record(o.registers, 'registers', (x, f) => {
    if (typeof x === 'number') return int(x, f);
    const s = str(x, f);
    if (!/^0x[0-9a-f]+$/i.test(s)) throw new ManifestError(f, `expected a 0x hex string, got "${s}"`);
    return s;
  });
  for (const r of ['CMDQ_BASE', 'CMDQ_PROD', 'CMDQ_CONS', 'IDR0', 'IDR1', 'IDR3', 'IDR5'])
    if (regs[r] === undefined) throw new ManifestError(`registers.${r}`, 'missing');
  return {
    schemaVersion: 1,
    tool: str(o.tool, 'tool'),
    complete: bool(o.complete, 'complete'),
    problems: strings(o.problems, 'problems'),
    mode,
    stage,
    kernel: {
      release: strOrNull(k.release, 'kernel.release'),
      version: strOrNull(k.version, 'kernel.version'),
      package: strOrNull(k.package, 'kernel.package'),
      pageSize: int(k.pageSize, 'kernel.pageSize'),
      config: record(k.config, 'kernel.config', str),
    },
    qemu: { version: str(q.version, 'qemu.version'), accel, cmdline: strings(q.cmdline, 'qemu.cmdline') },
    guestCmdline: str(o.guestCmdline, 'guestCmdline'),
    driver: {
      generation: strOrNull(d.generation, 'driver.generation'),
      probes: probes.map((p, i) => {
        const po = obj(p, `driver.probes[${i}]`);
        return {
          definition: str(po.definition, `driver.probes[${i}].definition`),
          ok: bool(po.ok, `driver.probes[${i}].ok`),
        };
      }),
    },
    registers: regs,
    ring: {
      entriesWritten: int(ring.entriesWritten, 'ring.entriesWritten'),
      wrapped: bool(ring.wrapped, 'ring.wrapped'),
      lost: int(ring.lost, 'ring.lost'),
    },
    trace: { events: int(trace.events, 'trace.events'), lostEvents: int(trace.lostEvents, 'trace.lostEvents') },
    times: {
      start: str(t.start, 'times.start'),
      end: str(t.end, 'times.end'),
      bootMs: intOrNull(t.bootMs, 'times.bootMs'),
      workloadMs: intOrNull(t.workloadMs, 'times.workloadMs'),
      totalMs: int(t.totalMs, 'times.totalMs'),
    },
    files: record(o.files, 'files', str),
  };
}
