/**
 * smmuv3-tlbi — the public API, every name listed (docs/architecture.md has the vocabulary). What is not
 * here is internal: the folders' own index files serve the CLI, the page and the tests, and may change.
 *
 * Stable (changes only with a major version): the engine (invs array, both policies, PlanOutput and its
 * JSON), the codec (encode/decode/check of 16-byte entries), the page table, the SMMU model with its
 * checker, and the audit of real streams. The consumers and scenarios are usable but still moving.
 */

// ── 64-bit words as two 32-bit halves ────────────────────────────────────────────────────────────────
/** The 64-bit word (lo, hi) as `0x` and 16 hex digits. */
export { hex64 } from './bits.js';
/** lo + hi · 2^32 as a number (exact below 2^53). */
export { join64 } from './bits.js';
/** The low and high 32-bit halves of a number below 2^53. */
export { lo32, hi32 } from './bits.js';

// ── The engine (src/tlbi): the invs array and the two policies ──────────────────────────────────────
/** The sorted, reference-counted array of invalidation targets. */
export { Invs } from './tlbi/index.js';
/** An empty invs array. */
export { emptyInvs } from './tlbi/index.js';
/** An invs array from targets in any order (sorted; one user per occurrence). */
export { invsOf } from './tlbi/index.js';
/** Adds one user per given target (a new array; the old one is not modified). */
export { mergeInvs } from './tlbi/index.js';
/** Drops one user of each given target, in place; a target reaching 0 users becomes trash until purged. */
export { unrefInvs } from './tlbi/index.js';
/** A new array without the trash (null when there is none). */
export { purgeInvs } from './tlbi/index.js';
/** Policy `linux`: Linux's range loop (`arm_smmu_domain_inv_range`) for a request, appended to a PlanOutput. */
export { invalidateRange } from './tlbi/index.js';
/** Policy `tlbi`: the commands a tlbi description needs, appended to a PlanOutput. */
export { tlbiInv } from './tlbi/index.js';
/** The planner's output: 16-byte little-endian entries in typed arrays, with the SMMU of each entry. */
export { PlanOutput } from './tlbi/index.js';
/** A PlanOutput as JSON rows: SMMU, batch, command name, fields and words. */
export { planEntriesToJson } from './tlbi/index.js';
/** Command counts, CMD_SYNCs and over-invalidated pages of a plan. */
export { planStats } from './tlbi/index.js';
/** Throws an InputError naming the field when a request or a tlbi description is not plannable. */
export { checkRangeRequest, checkTlbi } from './tlbi/index.js';
/** Reads the JSON request `smmuv3-tlbi plan` takes (targets, SMMUs, request or tlbi description), checked. */
export { parsePlanRequest } from './tlbi/index.js';
/** Reads a JSON list of SMMUs and their options (ril, e2h, forceSync, ds, errata). */
export { parseSmmus } from './tlbi/index.js';
/** ATC_INV Size for a range: the smallest naturally aligned power-of-two block of 4 KiB pages covering it. */
export { atcInvSize } from './tlbi/index.js';
export type {
  /** One invalidation target: SMMU, type (S1_ASID, S1_ASID_NESTED, S2_VMID, S2_VMID_S1_CLEAR, ATS, ATS_FULL), id, SSID, VMID, pgsize. */
  Inv,
  /** A target's type. */
  InvType,
  /** Linux's request: iova, size (0 = everything), leaf size (`granule`), leaf. */
  RangeRequest,
  /** What an unmap changed: start, last (inclusive), leaf levels, table levels, granule. */
  TlbiDescription,
  /** `linux` or `tlbi`. */
  Policy,
  /** One SMMU's options as the engine uses them. */
  SmmuOptions,
  /** The options of every SMMU, by id. */
  SmmuTable,
  /** A planned entry as planEntriesToJson gives it. */
  PlannedEntryJson,
  /** What planStats returns. */
  PlanStats,
} from './tlbi/index.js';

// ── The codec (src/cmdq): 16-byte command-queue entries ─────────────────────────────────────────────
/** Decodes and checks the entry at a slot of a Uint32Array (four words per entry). */
export { decodeSlot } from './cmdq/index.js';
/** Decodes and checks an entry given as its two 64-bit words, each as two halves. */
export { decodeHalves } from './cmdq/index.js';
/** Decodes and checks the entry at a byte offset of a little-endian dump. */
export { decodeBytes } from './cmdq/index.js';
/** Encodes a command (name and fields) into a slot; throws CommandEncodeError when it would be illegal. */
export { encodeCommand, encodeHalves, CommandEncodeError } from './cmdq/index.js';
/** A command from its JSON form ({name, fields}), every field checked. */
export { commandFromJson } from './cmdq/index.js';
/** A decoded entry as JSON (name, fields, words, issues). */
export { decodedEntryToJson } from './cmdq/index.js';
/** The checker of entries against the architecture and an SMMU's features (strict or lax RES0). */
export { CommandChecker } from './cmdq/index.js';
/** A growable queue of encoded entries. */
export { CommandBuffer } from './cmdq/index.js';
/** An SMMU's features (RIL, stage 1/2, ATS, DS, …) from its ID registers IDR0, IDR3, IDR5. */
export { featuresFromIdRegs } from './cmdq/index.js';
/** Every command name the codec knows, and each opcode's specification. */
export { COMMAND_NAMES, OPCODE_SPECS, Opcode } from './cmdq/index.js';
export type {
  /** A command: its name and fields. */
  Command,
  /** A command's name (TLBI_NH_VA, CMD_SYNC, …). */
  CommandName,
  /** What a decode returns: ok, the command, the issues. */
  DecodeResult,
  /** One reason an entry is illegal: field, rule, message. */
  CommandIssue,
  /** The features the checker judges against. */
  SmmuFeatures,
} from './cmdq/index.js';

// ── Page tables (src/pgtable) ────────────────────────────────────────────────────────────────────────
/** A VMSAv8-64 stage-1 or stage-2 table in simulated memory; unmap reports the tlbi description. */
export { IoPageTable } from './pgtable/index.js';
/** What an unmap gathers before invalidating, as Linux's iommu_iotlb_gather. */
export { Gather } from './pgtable/index.js';
/** Simulated physical memory, and the frame allocator tables are built from. */
export { PhysMemory, FrameAllocator } from './pgtable/index.js';
/** Errors the page table throws (overlap, partial unmap, out of frames). */
export { PageTableError, OverlapError, PartialUnmapError, OutOfFramesError } from './pgtable/index.js';
export type {
  /** Granule, stage, input/output sizes of a table. */
  PageTableConfig,
  /** What unmap returns: the tlbi description, the Linux-style requests, freed tables. */
  UnmapResult,
  /** Read/write/… permissions of a mapping. */
  Prot,
} from './pgtable/index.js';

// ── The SMMU model and its checker (src/smmu) ────────────────────────────────────────────────────────
/** An SMMU that removes only what the architecture guarantees, only at CMD_SYNC, while traffic refills caches. */
export { SmmuModel } from './smmu/index.js';
/** Reports every translation still cached after a CMD_SYNC that no longer matches the tables. */
export { StaleChecker } from './smmu/index.js';
/** The errata the model can enforce (MMU-700 2812531, Tegra264 repeat). */
export { SMMU_ERRATA } from './smmu/index.js';
export type {
  /** The model's options (adversarial or generous, features, errata). */
  SmmuModelOptions,
  /** One stale translation: the cached entry, what it translates to, what the tables say. */
  StaleReport,
} from './smmu/index.js';

// ── Audit of real streams (src/audit) ────────────────────────────────────────────────────────────────
/** A ring dump read oldest first from the registers (CMDQ_BASE/PROD/CONS or base/log2size). */
export { readRing } from './audit/index.js';
/** A QEMU `-trace "smmuv3_*"` text as a command stream. */
export { parseQemuTrace, QemuTraceParser } from './audit/index.js';
/** Checks a stream against the architecture's rules and re-plans it with the engine. */
export { auditStream } from './audit/index.js';
/** The same audit fed a chunk at a time, with bounded state (for dumps and traces of any size). */
export { AuditSession } from './audit/index.js';
/** An audit report as text, and as its JSON document. */
export { formatReport, reportToJson } from './audit/index.js';
/** The rules audit checks, by id. */
export { RULES } from './audit/index.js';
/** Input an audit cannot use (the message names the field or line). */
export { AuditInputError } from './audit/index.js';
export type {
  /** A command stream: entries with their words and where they came from. */
  AuditStream,
  /** The audit's options (features, nested VMIDs, re-planning). */
  AuditOptions,
  /** What an audit returns: findings, counts, re-planning. */
  AuditReport,
  /** One finding: rule, entry, message. */
  Finding,
} from './audit/index.js';

// ── Text kernel developers paste (src/textdump) ──────────────────────────────────────────────────────
/** Entries from dmesg, gdb x/gx or x/wx, crash rd, or hex words, with the format detected and named. */
export { parseTextDump, TextDumpReader, TEXT_FORMATS } from './textdump/index.js';
export type {
  /** What parseTextDump returns: the format found, the entries' words, notes. */
  TextDump,
  /** A text format's name (hex64, hex32, dmesg, gdb-64, gdb-32, crash-64, crash-32). */
  TextFormat,
} from './textdump/index.js';

// ── Consumers of the one engine (src/consumers) and scenarios (src/sim) — usable, still moving ────────
/** A kernel-driver domain layer: domains, masters, attach/detach, strict and lazy unmap. */
export { Driver, Domain } from './consumers/driver.js';
/** A pKVM-style hypervisor: identity stage 2, donate/reclaim/share, VMs, the host queue filter. */
export { Hypervisor } from './consumers/pkvm.js';
/** The pKVM host command filter: what a host command may do, given which StreamIDs the host owns. */
export { filterHostCommands } from './consumers/host-cmdq-filter.js';
/** Runs a scenario (driver, pkvm, nested) under both policies, and formats its report. */
export { runScenario, formatScenarioReport, SCENARIO_NAMES } from './sim/scenarios/index.js';
/** The driver's options (policy, SMMUs, strict or lazy, fault). */
export type { DriverOptions } from './consumers/driver.js';
/** The hypervisor's options. */
export type { HypOptions } from './consumers/pkvm.js';
export type {
  /** driver, pkvm or nested. */
  ScenarioName,
  /** A scenario's options (granule, RIL, ATS, seed, ops, fault, …). */
  ScenarioOptions,
  /** What runScenario returns: both policies' runs and their stale translations. */
  ScenarioReport,
} from './sim/scenarios/index.js';

/** Thrown for input that cannot be used; the message names the field. */
export { InputError } from './parse.js';
