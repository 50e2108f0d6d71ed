/**
 * The text formats a command-queue entry is pasted in, and how one line of each is recognised.
 *
 * - `hex64`: 64-bit hex words, two per entry (w0 then w1), as `decode` has always read them.
 * - `hex32`: 32-bit hex words, four per entry, low word first (w0[31:0], w0[63:32], w1[31:0], w1[63:32]).
 * - `dmesg`: the kernel's own report of a command the SMMU refused (arm-smmu-v3's CMDQ error path): a line
 *   "CMDQ error (cons 0x…): <reason>", a line "skipping command in error state:", then one line per 64-bit word
 *   "\t0x%016llx", each line with the kernel's prefixes (timestamp, device name).
 * - `gdb-64` / `gdb-32`: gdb's `x/Ngx ADDR` (64-bit words, 16 hex digits) and `x/Nwx ADDR` (32-bit words, 8 hex
 *   digits): "0xADDR <symbol+off>:\t0xWORD\t0xWORD…".
 * - `crash-64` / `crash-32`: the crash utility's `rd -64` / `rd -32`: "ADDR:  WORD WORD   ASCII".
 *
 * 32-bit words become 64-bit words little-endian (the first of two is the low half), since that is how a
 * little-endian memory dump of a 16-byte entry reads as 32-bit words.
 */

export const TEXT_FORMATS = ['hex64', 'hex32', 'dmesg', 'gdb-64', 'gdb-32', 'crash-64', 'crash-32'] as const;
export type TextFormat = (typeof TEXT_FORMATS)[number];

/** What a caller may force: a format, `gdb` / `crash` (the word size read from the text), or `auto`. */
export const TEXT_FORMAT_CHOICES = ['auto', ...TEXT_FORMATS, 'gdb', 'crash'] as const;
export type TextFormatChoice = (typeof TEXT_FORMAT_CHOICES)[number];

/** A line-sized description of each format, for messages and for naming what was detected. */
export const TEXT_FORMAT_NAMES: Readonly<Record<TextFormat, string>> = {
  hex64: '64-bit hex words, two per entry (w0 w1)',
  hex32: '32-bit hex words, four per entry, low word first',
  dmesg: 'the kernel log (arm-smmu-v3 "skipping command in error state")',
  'gdb-64': 'gdb x/gx output (64-bit words)',
  'gdb-32': 'gdb x/wx output (32-bit words, low word first)',
  'crash-64': 'crash rd -64 output (64-bit words)',
  'crash-32': 'crash rd -32 output (32-bit words, low word first)',
};

/** Whether a format's words are 32 bits wide (four make an entry). */
export function is32(f: TextFormat): boolean {
  return f === 'hex32' || f === 'gdb-32' || f === 'crash-32';
}

// ESC [ parameters letter: a colour or cursor sequence.
const ANSI = new RegExp(String.fromCharCode(0x1b) + '\\[[0-9;]*[A-Za-z]', 'g');

/** Remove ANSI colour sequences (`dmesg --color=always`) and a trailing carriage return. */
export function cleanLine(text: string): string {
  const t = text.endsWith('\r') ? text.slice(0, -1) : text;
  return t.includes('\x1b') ? t.replace(ANSI, '') : t;
}

/** A debugger prompt line ("(gdb) x/4wx …", "crash> rd -64 …"): the command, not its output. */
export function isPromptLine(text: string): boolean {
  return /^\s*(?:\(gdb\)|crash>)/.test(text);
}

const GDB_LINE = /^\s*0x[0-9a-fA-F]+(?:\s*<[^>]*>)?:((?:\s+0x[0-9a-fA-F]+)+)\s*$/;

/** The word tokens of a gdb `x` output line (with their `0x`), or null when the line is not one. */
export function gdbWords(text: string): string[] | null {
  const m = GDB_LINE.exec(text);
  return m ? m[1]!.trim().split(/\s+/) : null;
}

const CRASH_LINE = /^\s*([0-9a-fA-F]{8,16}):\s+(\S.*)$/;
const CRASH_WORD = /^(?:[0-9a-fA-F]{8}|[0-9a-fA-F]{16})$/;

/**
 * The word tokens of a crash `rd` output line, or null. The words are separated by one space and the ASCII
 * column follows after two or more, so the words are what comes before the first wider gap.
 */
export function crashWords(text: string): string[] | null {
  const m = CRASH_LINE.exec(text);
  if (!m) return null;
  const words = m[2]!
    .split(/ {2,}|\t/)[0]!
    .trim()
    .split(' ');
  return words.every((w) => CRASH_WORD.test(w)) ? words : null;
}

/** The kernel's "skipping command in error state:" line, which the command's words follow. */
export const DMESG_HEAD = /skipping command in error state:\s*$/;
/**
 * The kernel's "CMDQ error (cons 0x%08x): <reason>" line, printed just before; the reason is the rest of the
 * line after the match (cerrorReason). No `.*` after an unanchored literal: that is quadratic on a line that
 * repeats the literal (ReDoS check, issue 18).
 */
export const DMESG_CERROR = /CMDQ error \(cons (0x[0-9a-fA-F]+)\):/;

/** The reason text after a DMESG_CERROR match. */
export function cerrorReason(text: string, m: RegExpExecArray): string {
  return text.slice(m.index + m[0].length).trim();
}
/** A kernel line that ends with one 0x%016llx word (after the prefix's colon, a tab or spaces). */
export const DMESG_WORD = /(?:^|:)\s*0x([0-9a-fA-F]{16})\s*$/;
/** Signs of a kernel log line: a [seconds.micro] timestamp (maybe after a <level>), journalctl's " kernel: ". */
const DMESG_HINT = /^\s*(?:<\d+>)?\[\s*\d+\.\d+\]|\bkernel: |arm-smmu/;

/** Whether a line shows the input is a kernel log. */
export function isDmesgLine(text: string): boolean {
  return DMESG_HEAD.test(text) || DMESG_CERROR.test(text) || DMESG_HINT.test(text);
}

/**
 * Whether bytes look like a binary dump rather than text: a NUL or a control character other than white space
 * and ESC (colour sequences) in them. A command entry has zero bytes in practice (its opcode is 8 bits of 64).
 */
export function looksBinary(bytes: Uint8Array): boolean {
  const n = Math.min(bytes.length, 4096);
  for (let k = 0; k < n; k++) {
    const b = bytes[k]!;
    if (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0b && b !== 0x0c && b !== 0x0d && b !== 0x1b) return true;
    if (b === 0x7f) return true;
  }
  return false;
}

/** A line shortened for a message. */
export function clip(text: string, max = 60): string {
  const t = text.trim();
  return JSON.stringify(t.length > max ? t.slice(0, max) + '…' : t);
}
