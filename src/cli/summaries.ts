/**
 * The top-level help's line for each subcommand (its term and description), so that `smmuv3-tlbi --help`
 * loads none of the subcommand modules. A copy of what the modules register: test/cli-startup.test.ts
 * fails when it differs from them and prints the entries to paste here.
 */
export interface CommandSummary {
  readonly name: string;
  /** As the top-level help shows it: name, "[options]", arguments. */
  readonly term: string;
  readonly description: string;
}

export const SUMMARIES: readonly CommandSummary[] = [
  {
    name: 'decode',
    term: 'decode [options] [words...]',
    description:
      'Decode SMMUv3 command-queue entries and check each against the architecture. Input: text as arguments, on stdin (- or nothing) or in a file (--file) — 64-bit hex words (w0 w1), 32-bit hex words (four per entry, low word first), the kernel log ("skipping command in error state:" and its 0x words), gdb x/gx or x/wx output, crash rd -64 or rd -32 output — or a raw little-endian queue dump (--file or stdin, told from text by its bytes). The format is detected and named (--format forces one). Exit 1 when any entry is illegal.',
  },
  {
    name: 'audit',
    term: 'audit [options] [words...]',
    description:
      'Audit a real SMMUv3 command stream against the architecture and re-plan it with the engine: a raw command-queue dump (--file, with --prod/--cons/--log2size or --regs to read the ring oldest first), hex word pairs (arguments or stdin), or a QEMU trace (--qemu-trace, -trace "smmuv3_*"; log backend with or without -msg timestamp=on, or simpletrace.py text). gzip input is accepted. Exit 0 no findings, 1 findings, 2 unusable input.',
  },
  {
    name: 'capture',
    term: 'capture [options]',
    description:
      "Boot an arm64 kernel under qemu-system-aarch64 -M virt,iommu=smmuv3 and record what its SMMUv3 driver did: the whole command-queue ring and the SMMU registers (read through QMP), the guest trace of invalidation requests (kprobes chosen from the running kernel's symbols) and of iommu:map/unmap, QEMU's smmuv3_* trace, and a manifest. KVM on an arm64 host with /dev/kvm, TCG otherwise. Then run `audit --capture DIR`. Exit 0 complete, 1 the capture is incomplete (a note in DIR says why), 2 unusable input.",
  },
  {
    name: 'encode',
    term: 'encode [options]',
    description:
      'Encode commands given as JSON ({"name": …, "fields": {…}}: one object, an array, or one per line) from stdin or --input. Prints one "0x<w0> 0x<w1>" line per entry (so encode | decode round-trips), or writes a binary dump with --out. Omitted fields are 0. Exit 1 when a command would be illegal.',
  },
  {
    name: 'plan',
    term: 'plan [options]',
    description:
      'Plan the invalidation commands for one request: JSON from --input or stdin ({"smmus":[…],"invs":[…],"policy":"linux","iova","size","granule","leaf"} or "policy":"tlbi" with "tlbi":{start,last,leafLevels,tableLevels,granule}), or flags for one target. Prints the entries grouped by SMMU and batch. Exit 2 (naming the field) on an invalid request.',
  },
  {
    name: 'pgtable',
    term: 'pgtable [options]',
    description:
      'Run a JSON script of map / unmap / walk operations on an ARMv8 I/O page table (stage 1 or 2; 4K, 16K or 64K granule) and print, for each unmap, the tlbi description, the freed tables and the Linux-style requests, and for each walk the descriptor read at each level. A bad script exits 2 naming the operation and field.',
  },
  {
    name: 'serve',
    term: 'serve [options]',
    description:
      'Serve the web page (how a range becomes commands, the command-queue decoder) on 127.0.0.1 and print its URL. The page runs the same core as the CLI, entirely in the browser; it needs no network. Only regular files inside the folder are served (no symlink out of it), only to requests addressed to 127.0.0.1, localhost or [::1] with the port (others get 421). Stop with Ctrl-C (SIGINT or SIGTERM: exit 0).',
  },
  {
    name: 'simulate',
    term: 'simulate [options]',
    description:
      'Run a randomized map/unmap workload through the invalidation engine, the command queues and an adversarial SMMU model, and check that no translation stays cached after its invalidation completed. A run of 250,000 operations or more prints its estimated length; Ctrl-C stops it with a partial report. Exit 0 clean, 1 stale translations found, 2 bad option, 130 interrupted.',
  },
  {
    name: 'campaign',
    term: 'campaign [options]',
    description:
      'Run the simulation over a configuration matrix × seeds on every core (or one shard of it), shrink failures to replay files, and report per configuration (text, JSON, JUnit, KTAP). Exit 0 clean, 1 stale translations found, 2 bad option, 130 interrupted.',
  },
];
