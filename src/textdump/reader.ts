/**
 * Reading pasted command-queue entries a line at a time (so a stream of any length is read with bounded memory):
 * the format is detected from the text, or forced, and each complete entry goes to a callback as its four 32-bit
 * halves. Errors are InputError naming the source and line.
 *
 * Detection (auto): the first line that is not blank or a debugger prompt decides between the kernel log, gdb and
 * crash output, which recognise themselves. Otherwise the text is plain hex words, and their width decides:
 * - a word written with more than 8 hex digits makes all of them 64-bit words (hex64);
 * - words all written with exactly 8 digits (how 32-bit dumps print) are 32-bit words (hex32), and must come four
 *   per entry;
 * - shorter words (hand-typed, e.g. `0x46 0x0`) are 64-bit words when their count is 2 modulo 4 (as 32-bit words
 *   they would leave half an entry); a count that is a multiple of 4 reads both ways and is refused, naming the
 *   --format to pass. A 32-bit word is never read as a 64-bit one without the user saying so.
 */
import { InputError, parseWord64 } from '../parse.js';
import {
  DMESG_CERROR,
  cerrorReason,
  DMESG_HEAD,
  DMESG_WORD,
  TEXT_FORMAT_NAMES,
  clip,
  cleanLine,
  crashWords,
  gdbWords,
  is32,
  isDmesgLine,
  isPromptLine,
  type TextFormat,
  type TextFormatChoice,
} from './formats.js';

/** Receives each complete entry: its halves (w0 low, w0 high, w1 low, w1 high) and the line of its first word. */
export type EntrySink = (h0: number, h1: number, h2: number, h3: number, line: number) => void;

/** Plain words held back while their width is undecided: at most this many. */
const PENDING_MAX = 1 << 16;

type Mode = 'auto' | 'words' | 'hex64' | 'hex32' | 'dmesg' | 'gdb' | 'crash';

export class TextDumpReader {
  /** Notes on what was read (a CMDQ error line and the entry it names, words skipped), for the output. */
  readonly notes: string[] = [];
  private mode: Mode;
  /** Word width of gdb / crash output: 0 until the first line, or forced. */
  private width: 0 | 32 | 64 = 0;
  private readonly h = [0, 0, 0, 0];
  private nh = 0;
  private entryLine = 0;
  private count = 0;
  /** Words read (of the format's width). */
  private words = 0;
  // Plain words of undecided width: values and lines, and what their written widths say.
  private pendLo: number[] = [];
  private pendHi: number[] = [];
  private pendLine: number[] = [];
  private allEight = true;
  // Kernel log: words still expected after a "skipping command" line, its line, and what was seen.
  private need = 0;
  private headLine = 0;
  private heads = 0;
  private stray = 0;
  private cerror: string | null = null;

  constructor(
    private readonly source: string,
    private readonly choice: TextFormatChoice,
    private readonly onEntry: EntrySink,
  ) {
    if (choice === 'auto') this.mode = 'auto';
    else if (choice === 'gdb' || choice === 'gdb-64' || choice === 'gdb-32') this.mode = 'gdb';
    else if (choice === 'crash' || choice === 'crash-64' || choice === 'crash-32') this.mode = 'crash';
    else this.mode = choice;
    if (choice === 'gdb-64' || choice === 'crash-64') this.width = 64;
    if (choice === 'gdb-32' || choice === 'crash-32') this.width = 32;
  }

  /** Entries read so far. */
  get entries(): number {
    return this.count;
  }

  /** The format read (null while undecided, or when the input held nothing). */
  get format(): TextFormat | null {
    switch (this.mode) {
      case 'auto':
      case 'words':
        return null;
      case 'gdb':
      case 'crash':
        return this.width === 0 ? null : `${this.mode}-${this.width}`;
      default:
        return this.mode;
    }
  }

  line(raw: string, no: number): void {
    const text = cleanLine(raw);
    if (this.mode === 'auto') {
      if (text.trim() === '' || isPromptLine(text)) return;
      if (isDmesgLine(text)) this.mode = 'dmesg';
      else if (gdbWords(text)) this.mode = 'gdb';
      else if (crashWords(text)) this.mode = 'crash';
      else this.mode = 'words';
    }
    switch (this.mode) {
      case 'dmesg':
        return this.dmesgLine(text, no);
      case 'gdb':
      case 'crash':
        return this.debuggerLine(text, no);
      default:
        return this.wordsLine(text, no);
    }
  }

  /** The input ended: an incomplete entry, or plain words whose width is still undecided, are settled here. */
  end(): void {
    if (this.mode === 'words') this.decideAtEnd();
    if (this.mode === 'dmesg') this.dmesgEnd();
    if (this.nh !== 0) {
      const f = this.format ?? 'hex64';
      throw new InputError(
        this.source,
        is32(f)
          ? `${this.words} 32-bit words is not a multiple of 4 (four per entry, low word first; ${TEXT_FORMAT_NAMES[f]})`
          : `odd number of words (${this.words}): each entry is two 64-bit words, w0 then w1`,
      );
    }
  }

  private push(lo: number, hi: number, line: number): void {
    if (this.nh === 0) this.entryLine = line;
    this.h[this.nh++] = lo;
    this.h[this.nh++] = hi;
    this.words++;
    if (this.nh === 4) this.emit();
  }

  private push32(v: number, line: number): void {
    if (this.nh === 0) this.entryLine = line;
    this.h[this.nh++] = v;
    this.words++;
    if (this.nh === 4) this.emit();
  }

  private emit(): void {
    this.nh = 0;
    this.count++;
    this.onEntry(this.h[0]!, this.h[1]!, this.h[2]!, this.h[3]!, this.entryLine);
  }

  // --- plain hex words --------------------------------------------------------------------------------------

  private wordsLine(text: string, no: number): void {
    if (isPromptLine(text)) return;
    const hash = text.indexOf('#');
    const body = hash >= 0 ? text.slice(0, hash) : text;
    for (const t of body.split(/[\s,]+/)) {
      if (!t) continue;
      const field = `${this.source} line ${no} word ${JSON.stringify(t)}`;
      const [lo, hi] = parseWord64(t, field);
      const digits = t.replace(/^0[xX]/, '').replace(/_/g, '').length;
      if (this.mode === 'hex64') this.push(lo, hi, no);
      else if (this.mode === 'hex32') {
        if (digits > 8)
          throw new InputError(
            field,
            `has ${digits} hex digits: not a 32-bit word` +
              (this.choice === 'hex32'
                ? ''
                : ' (the words before it were 32-bit words; pass --format hex64 if all are 64-bit)'),
          );
        this.push32(lo, no);
      } else if (digits > 8) {
        this.decide('hex64');
        this.push(lo, hi, no);
      } else {
        this.pendLo.push(lo);
        this.pendHi.push(hi);
        this.pendLine.push(no);
        if (digits !== 8) this.allEight = false;
        if (this.pendLo.length >= PENDING_MAX) this.decideFull();
      }
    }
  }

  /** Settle the width of the words held back and read them. */
  private decide(mode: 'hex64' | 'hex32'): void {
    this.mode = mode;
    const lo = this.pendLo;
    const hi = this.pendHi;
    const line = this.pendLine;
    this.pendLo = [];
    this.pendHi = [];
    this.pendLine = [];
    for (let k = 0; k < lo.length; k++)
      if (mode === 'hex64') this.push(lo[k]!, hi[k]!, line[k]!);
      else this.push32(lo[k]!, line[k]!);
  }

  private decideFull(): void {
    if (this.allEight) {
      this.notes.push(`read as 32-bit words: the first ${PENDING_MAX} words all have 8 hex digits`);
      this.decide('hex32');
      return;
    }
    throw new InputError(this.source, this.ambiguous(`the first ${PENDING_MAX} words`));
  }

  private decideAtEnd(): void {
    const n = this.pendLo.length;
    if (n === 0) return;
    if (n % 2 === 1) {
      this.words = n;
      throw new InputError(this.source, `odd number of words (${n}): each entry is two 64-bit words, w0 then w1`);
    }
    if (this.allEight) {
      if (n % 4 !== 0)
        throw new InputError(
          this.source,
          `${n} words of 8 hex digits look like 32-bit words, but those come four per entry; ` +
            'pass --format hex64 if they are 64-bit words (two per entry)',
        );
      this.decide('hex32');
    } else if (n % 4 === 2) this.decide('hex64');
    else throw new InputError(this.source, this.ambiguous(`${n} words`));
  }

  private ambiguous(what: string): string {
    return (
      `${what} of at most 8 hex digits read both as 64-bit words (two per entry) and as 32-bit words (four per ` +
      'entry): pass --format hex64 or --format hex32'
    );
  }

  // --- gdb and crash -----------------------------------------------------------------------------------------

  private debuggerLine(text: string, no: number): void {
    if (text.trim() === '' || isPromptLine(text)) return;
    const gdb = this.mode === 'gdb';
    const toks = gdb ? gdbWords(text) : crashWords(text);
    const where = `${this.source} line ${no}`;
    if (!toks)
      throw new InputError(
        where,
        `not ${gdb ? 'gdb x output ("0xADDR <sym>:\\t0xWORD …")' : 'crash rd output ("ADDR:  WORD WORD  ASCII")'}: ${clip(text)}`,
      );
    for (const t of toks) {
      const digits = gdb ? t.length - 2 : t.length;
      const w = digits === 16 ? 64 : digits === 8 ? 32 : 0;
      if (w === 0) throw new InputError(where, `${t}: gdb prints x/gx words with 16 hex digits and x/wx words with 8`);
      if (this.width === 0) this.width = w;
      else if (w !== this.width)
        throw new InputError(
          where,
          `${t} is a ${w}-bit word, but the ${gdb ? 'gdb' : 'crash'} output so far holds ${this.width}-bit words`,
        );
      const [lo, hi] = parseWord64(t, `${where} word ${t}`);
      if (w === 64) this.push(lo, hi, no);
      else this.push32(lo, no);
    }
  }

  // --- the kernel log ----------------------------------------------------------------------------------------

  private dmesgLine(text: string, no: number): void {
    const c = DMESG_CERROR.exec(text);
    if (c) {
      this.cerror = `CMDQ error (cons ${c[1]}): ${cerrorReason(text, c)} (line ${no})`;
      return;
    }
    if (DMESG_HEAD.test(text)) {
      if (this.need > 0)
        throw new InputError(
          `${this.source} line ${no}`,
          `a new "skipping command in error state" message, but the one of line ${this.headLine} has only ` +
            `${2 - this.need} of its two words`,
        );
      this.need = 2;
      this.headLine = no;
      this.heads++;
      if (this.cerror !== null) this.notes.push(`entry ${this.count}: ${this.cerror}`);
      this.cerror = null;
      return;
    }
    const w = DMESG_WORD.exec(text);
    if (!w) return; // another kernel message
    if (this.need === 0) {
      this.stray++;
      return;
    }
    const [lo, hi] = parseWord64(w[1]!, `${this.source} line ${no}`);
    this.push(lo, hi, no);
    this.need--;
  }

  private dmesgEnd(): void {
    if (this.need > 0)
      throw new InputError(
        this.source,
        `the "skipping command in error state" message of line ${this.headLine} has only ${2 - this.need} of its two words`,
      );
    if (this.heads === 0)
      throw new InputError(
        this.source,
        'a kernel log without a "skipping command in error state:" line: paste from that line on (the two ' +
          '0x words after it are the command), or pass --format for another format',
      );
    if (this.stray > 0)
      this.notes.push(
        `${this.stray} word line(s) outside a "skipping command" message skipped (an event or PRI dump is not a command)`,
      );
  }
}

/** The result of reading a whole text. */
export interface TextDump {
  /** Four halves per entry. */
  readonly halves: Uint32Array;
  /** The format read; null when the text held no word. */
  readonly format: TextFormat | null;
  readonly notes: readonly string[];
}

/** Read a whole text dump (see TextDumpReader). */
export function parseTextDump(text: string, source: string, choice: TextFormatChoice = 'auto'): TextDump {
  const halves: number[] = [];
  const r = new TextDumpReader(source, choice, (a, b, c, d) => halves.push(a, b, c, d));
  text.split('\n').forEach((line, i) => r.line(line, i + 1));
  r.end();
  return { halves: Uint32Array.from(halves), format: r.format, notes: r.notes };
}
