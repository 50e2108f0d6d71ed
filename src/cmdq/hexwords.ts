/** Hex-word text (two 64-bit words per command entry) read into 32-bit halves; shared by the CLI and the page. */
import { InputError, parseWord64 } from '../parse.js';

/**
 * Hex words, two per entry (w0 then w1), separated by white space or commas; `#` starts a comment. Fed a line
 * at a time (so text of any length is read with bounded memory); each complete entry goes to `onEntry` as its
 * four 32-bit halves and the line of its first word.
 */
export class HexPairReader {
  private words = 0;
  private lo = 0;
  private hi = 0;
  private firstLine = 0;

  constructor(
    private readonly source: string,
    private readonly onEntry: (h0: number, h1: number, h2: number, h3: number, line: number) => void,
  ) {}

  /** Entries read so far. */
  get entries(): number {
    return this.words >>> 1;
  }

  line(text: string, lineNo: number): void {
    const hash = text.indexOf('#');
    const body = hash >= 0 ? text.slice(0, hash) : text;
    for (const t of body.split(/[\s,]+/)) {
      if (!t) continue;
      const [lo, hi] = parseWord64(t, `${this.source} line ${lineNo} word ${JSON.stringify(t)}`);
      if ((this.words & 1) === 0) {
        this.lo = lo;
        this.hi = hi;
        this.firstLine = lineNo;
      } else this.onEntry(this.lo, this.hi, lo, hi, this.firstLine);
      this.words++;
    }
  }

  /** The input ended: an odd word count is an error. */
  end(): void {
    if (this.words % 2 !== 0)
      throw new InputError(
        this.source,
        `odd number of words (${this.words}): each entry is two 64-bit words, w0 then w1`,
      );
  }
}

/**
 * Parse text holding 64-bit hex words, two per entry (w0 then w1), separated by white space or commas;
 * `#` starts a comment. Returns the halves, four per entry.
 */
export function parseHexPairs(text: string, source: string): Uint32Array {
  const halves: number[] = [];
  const r = new HexPairReader(source, (a, b, c, d) => halves.push(a, b, c, d));
  text.split(/\r?\n/).forEach((line, i) => r.line(line, i + 1));
  r.end();
  return Uint32Array.from(halves);
}
