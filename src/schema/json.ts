/**
 * A strict JSON reader for user inputs (register files, request lists, command lists). It accepts exactly
 * RFC 8259 JSON, like JSON.parse, and refuses what JSON.parse lets through silently:
 *
 * - a key given twice in one object (JSON.parse keeps the last one);
 * - a number whose magnitude passes 2^53 (JSON.parse rounds it: 18446744073709551615 reads as
 *   18446744073709552000) or that overflows to Infinity (1e400);
 * - nesting deeper than a limit (so a hostile 100k-deep document cannot exhaust the stack).
 *
 * Every error names the source and the field (`--regs: CMDQ_PROD: …`, `--input: requests[3].iova: …`) or
 * the line and column of a syntax error. Keys are own properties even when named `__proto__`.
 * Linear time: one pass, no regular expressions.
 */
import { InputError } from '../parse.js';

/** Deepest nesting of arrays and objects a document may have. */
export const MAX_JSON_DEPTH = 64;

type Path = Array<string | number>;

/** `a.b[3]["odd key"]` from a path; empty for the document itself. */
export function formatPath(path: readonly (string | number)[]): string {
  let s = '';
  for (const p of path) {
    if (typeof p === 'number') s += `[${p}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(p)) s += s === '' ? p : `.${p}`;
    else s += `[${JSON.stringify(p)}]`;
  }
  return s;
}

class Reader {
  private pos = 0;
  private readonly path: Path = [];
  constructor(
    private readonly text: string,
    private readonly source: string,
    private readonly maxDepth: number,
  ) {
    if (text.charCodeAt(0) === 0xfeff) this.pos = 1;
  }

  private where(): string {
    let line = 1;
    let col = 1;
    for (let k = 0; k < this.pos && k < this.text.length; k++) {
      if (this.text.charCodeAt(k) === 10) {
        line++;
        col = 1;
      } else col++;
    }
    return `line ${line} column ${col}`;
  }

  private syntax(what: string): never {
    throw new InputError(this.source, `invalid JSON at ${this.where()}: ${what}`);
  }

  private field(message: string): never {
    const p = formatPath(this.path);
    throw new InputError(p === '' ? this.source : `${this.source}: ${p}`, message);
  }

  private ws(): void {
    const t = this.text;
    for (;;) {
      const c = t.charCodeAt(this.pos);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) this.pos++;
      else return;
    }
  }

  document(): unknown {
    this.ws();
    if (this.pos >= this.text.length) this.syntax('the input is empty');
    const v = this.value(0);
    this.ws();
    if (this.pos < this.text.length) this.syntax('unexpected text after the end of the document');
    return v;
  }

  private value(depth: number): unknown {
    const t = this.text;
    const c = t[this.pos];
    switch (c) {
      case '{':
        return this.object(depth + 1);
      case '[':
        return this.array(depth + 1);
      case '"':
        return this.string();
      case 't':
        return this.word('true', true);
      case 'f':
        return this.word('false', false);
      case 'n':
        return this.word('null', null);
      default:
        if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.number();
        return this.syntax(c === undefined ? 'unexpected end of input' : `unexpected character ${JSON.stringify(c)}`);
    }
  }

  private word<T>(w: string, v: T): T {
    if (this.text.startsWith(w, this.pos)) {
      this.pos += w.length;
      return v;
    }
    return this.syntax(`unexpected text (expected ${w})`);
  }

  private enter(depth: number): void {
    if (depth > this.maxDepth) this.field(`nested deeper than ${this.maxDepth} levels`);
  }

  private object(depth: number): Record<string, unknown> {
    this.enter(depth);
    this.pos++; // {
    const out: Record<string, unknown> = {};
    const seen = new Set<string>();
    this.ws();
    if (this.text[this.pos] === '}') {
      this.pos++;
      return out;
    }
    for (;;) {
      this.ws();
      if (this.text[this.pos] !== '"') this.syntax('expected a key in double quotes');
      const key = this.string();
      this.path.push(key);
      if (seen.has(key)) this.field('the key is given twice');
      seen.add(key);
      this.ws();
      if (this.text[this.pos] !== ':') this.syntax('expected ":" after the key');
      this.pos++;
      this.ws();
      const v = this.value(depth);
      if (key === '__proto__')
        Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
      else out[key] = v;
      this.path.pop();
      this.ws();
      const c = this.text[this.pos];
      this.pos++;
      if (c === '}') return out;
      if (c !== ',') {
        this.pos--;
        this.syntax('expected "," or "}" in an object');
      }
    }
  }

  private array(depth: number): unknown[] {
    this.enter(depth);
    this.pos++; // [
    const out: unknown[] = [];
    this.ws();
    if (this.text[this.pos] === ']') {
      this.pos++;
      return out;
    }
    for (;;) {
      this.ws();
      this.path.push(out.length);
      out.push(this.value(depth));
      this.path.pop();
      this.ws();
      const c = this.text[this.pos];
      this.pos++;
      if (c === ']') return out;
      if (c !== ',') {
        this.pos--;
        this.syntax('expected "," or "]" in an array');
      }
    }
  }

  private digits(): number {
    const t = this.text;
    const start = this.pos;
    while (this.pos < t.length && t.charCodeAt(this.pos) >= 0x30 && t.charCodeAt(this.pos) <= 0x39) this.pos++;
    return this.pos - start;
  }

  private number(): number {
    const t = this.text;
    const start = this.pos;
    if (t[this.pos] === '-') this.pos++;
    if (t[this.pos] === '0') this.pos++;
    else if (this.digits() === 0) this.syntax('a number needs digits');
    if (t[this.pos] === '.') {
      this.pos++;
      if (this.digits() === 0) this.syntax('a number needs digits after "."');
    }
    if (t[this.pos] === 'e' || t[this.pos] === 'E') {
      this.pos++;
      if (t[this.pos] === '+' || t[this.pos] === '-') this.pos++;
      if (this.digits() === 0) this.syntax('a number needs digits in its exponent');
    }
    const lexeme = t.slice(start, this.pos);
    const v = Number(lexeme);
    if (!Number.isFinite(v)) this.field(`the number ${lexeme} is out of range`);
    if (Math.abs(v) > Number.MAX_SAFE_INTEGER)
      this.field(
        `the number ${lexeme} is above 2^53 - 1, where JSON numbers lose precision; write it as a "0x…" hex string`,
      );
    return v;
  }

  private string(): string {
    const t = this.text;
    this.pos++; // "
    let out = '';
    let run = this.pos;
    for (;;) {
      if (this.pos >= t.length) this.syntax('unterminated string');
      const c = t.charCodeAt(this.pos);
      if (c === 0x22) {
        out += t.slice(run, this.pos);
        this.pos++;
        return out;
      }
      if (c < 0x20) this.syntax('a control character inside a string (escape it)');
      if (c !== 0x5c) {
        this.pos++;
        continue;
      }
      out += t.slice(run, this.pos);
      const e = t[this.pos + 1];
      this.pos += 2;
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out += e;
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          const hex = t.slice(this.pos, this.pos + 4);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.syntax('\\u needs four hex digits');
          out += String.fromCharCode(parseInt(hex, 16));
          this.pos += 4;
          break;
        }
        default:
          this.pos -= 2;
          this.syntax(`unknown escape \\${e ?? ''}`);
      }
      run = this.pos;
    }
  }
}

/**
 * Parse JSON text strictly (see the module comment). Throws InputError whose message starts with `source`.
 */
export function parseStrictJson(text: string, source: string, maxDepth = MAX_JSON_DEPTH): unknown {
  return new Reader(text, source, maxDepth).document();
}
