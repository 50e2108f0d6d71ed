/**
 * The scanners of the QEMU trace parser: event names, `key=value` operands, QEMU's command names and the CERROR of
 * a consume_error event, found by hand-written loops over the line (one pass each, no backtracking), so that the
 * cost of a line is linear in its length whatever it holds.
 */

const isSpace = (c: number): boolean => c === 32 || (c >= 9 && c <= 13);
const isDigit = (c: number): boolean => c >= 48 && c <= 57;
const isHex = (c: number): boolean => isDigit(c) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
const isKeyStart = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
const isKeyChar = (c: number): boolean => isKeyStart(c) || isDigit(c) || c === 46;
/** [a-z0-9_] (event names). */
const isNameChar = (c: number): boolean => (c >= 97 && c <= 122) || isDigit(c) || c === 95;
/** [A-Z0-9_] (QEMU command names). */
const isUpperChar = (c: number): boolean => (c >= 65 && c <= 90) || isDigit(c) || c === 95;

/** End of the number at q (`-`? then `0x` hex digits or decimal digits), or q when there is none. */
export function numberEnd(t: string, q: number, signed = true): number {
  let e = q;
  if (signed && t.charCodeAt(e) === 45) e++;
  if (t.charCodeAt(e) === 48 && t.charCodeAt(e + 1) === 120 && isHex(t.charCodeAt(e + 2))) {
    e += 2;
    while (e < t.length && isHex(t.charCodeAt(e))) e++;
    return e;
  }
  const d = e;
  while (e < t.length && isDigit(t.charCodeAt(e))) e++;
  return e === d ? q : e;
}

/**
 * An SMMU event name anywhere in a line: `smmu_…` or `smmuv3_…` ([a-z0-9_]+) at the start or after white space,
 * `:` or `]`, followed by an optional `:` and white space or the end. Returns the name and where its payload
 * starts, or null.
 */
export function eventAnywhere(line: string): { name: string; payload: number } | null {
  let p = line.indexOf('smmu');
  while (p >= 0) {
    const prev = p === 0 ? 32 : line.charCodeAt(p - 1);
    if (p === 0 || isSpace(prev) || prev === 58 || prev === 93) {
      let q = -1;
      if (line.charCodeAt(p + 4) === 95) q = p + 5;
      else if (line.startsWith('v3_', p + 4)) q = p + 7;
      if (q > 0) {
        let e = q;
        while (e < line.length && isNameChar(line.charCodeAt(e))) e++;
        if (e > q) {
          let f = e;
          if (line.charCodeAt(f) === 58) f++;
          if (f === line.length) return { name: line.slice(p, e), payload: f };
          if (isSpace(line.charCodeAt(f))) return { name: line.slice(p, e), payload: f + 1 };
        }
      }
    }
    p = line.indexOf('smmu', p + 1);
  }
  return null;
}

/** QEMU's command name in an opcode event: the leftmost `SMMU_CMD_[A-Z0-9_]+`, `UNKNOWN` or `INVALID`. */
export function opcodeName(payload: string): string | null {
  let best = -1;
  let bestEnd = -1;
  let p = payload.indexOf('SMMU_CMD_');
  while (p >= 0) {
    let e = p + 9;
    while (e < payload.length && isUpperChar(payload.charCodeAt(e))) e++;
    if (e > p + 9) {
      best = p;
      bestEnd = e;
      break;
    }
    p = payload.indexOf('SMMU_CMD_', p + 1);
  }
  for (const w of ['UNKNOWN', 'INVALID']) {
    const q = payload.indexOf(w);
    if (q >= 0 && (best < 0 || q < best)) {
      best = q;
      bestEnd = q + w.length;
    }
  }
  return best < 0 ? null : payload.slice(best, bestEnd);
}

/** The text after `<---` (and white space) or `opcode=`, whichever comes first, trimmed; else the payload trimmed. */
export function opcodeFallback(payload: string): string {
  const a = payload.indexOf('<---');
  const b = payload.indexOf('opcode=');
  if (a >= 0 && (b < 0 || a < b)) {
    let q = a + 4;
    while (q < payload.length && isSpace(payload.charCodeAt(q))) q++;
    return payload.slice(q).trim();
  }
  if (b >= 0) return payload.slice(b + 7).trim();
  return payload.trim();
}

/** The CERROR of a consume_error event: the number after `execution:` (and white space) or `cmd_error=`, leftmost. */
export function consumeError(payload: string): number | null {
  let best = -1;
  let bs = -1;
  let be = -1;
  for (const w of ['execution:', 'cmd_error=']) {
    let p = payload.indexOf(w);
    while (p >= 0 && (best < 0 || p < best)) {
      let q = p + w.length;
      if (w === 'execution:') while (q < payload.length && isSpace(payload.charCodeAt(q))) q++;
      const e = numberEnd(payload, q, false);
      if (e > q) {
        best = p;
        bs = q;
        be = e;
        break;
      }
      p = payload.indexOf(w, p + 1);
    }
  }
  return best < 0 ? null : num(payload.slice(bs, be));
}

/** Parse a decimal or 0x-hex integer; 64-bit hex is split so addresses with zero low bits stay exact. */
export function num(s: string): number {
  if (s.startsWith('-')) return -num(s.slice(1));
  if (s.startsWith('0x') || s.startsWith('0X')) {
    const h = s.slice(2);
    if (h.length <= 13) return parseInt(h, 16);
    return parseInt(h.slice(0, -8), 16) * 4294967296 + parseInt(h.slice(-8), 16);
  }
  return parseInt(s, 10);
}

/**
 * The number after `key` followed by `=` or `:` (spaces allowed), or undefined. Faster than kv() for the
 * frequent events; `key` must not be a suffix of another key in the same payload (checked by the caller).
 */
export function field(payload: string, key: string): number | undefined {
  const t = fieldText(payload, key);
  return t === undefined ? undefined : num(t);
}

/** The number text after `key` followed by `=` or `:` (as `field` reads it), or undefined. */
export function fieldText(payload: string, key: string): string | undefined {
  return fieldToken(payload, key)?.text;
}

/**
 * As fieldText, with the character that follows the number (NaN at the end of the payload), so that a
 * caller can refuse `1.5`, `12g` or `1e400` instead of reading the digits before the first odd character.
 * The token returned is one shared object, overwritten by the next call.
 */
export interface FieldToken {
  text: string;
  next: number;
}
/** The one token fieldToken returns (reused: read it before the next call; no allocation per operand). */
const TOKEN: FieldToken = { text: '', next: 0 };

export function fieldToken(payload: string, key: string): Readonly<FieldToken> | undefined {
  let p = payload.indexOf(key);
  while (p > 0) {
    const c = payload.charCodeAt(p - 1);
    if (c === 32 || c === 44 || c === 40) break; // preceded by space, comma or '('
    p = payload.indexOf(key, p + 1);
  }
  if (p < 0) return undefined;
  let q = p + key.length;
  while (payload.charCodeAt(q) === 32) q++;
  const sep = payload.charCodeAt(q);
  if (sep !== 61 && sep !== 58) return undefined; // '=' or ':'
  q++;
  while (payload.charCodeAt(q) === 32) q++;
  let e = q;
  if (payload.charCodeAt(e) === 45) e++;
  while (e < payload.length) {
    const c = payload.charCodeAt(e);
    if ((c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70) || c === 120 || c === 88) e++;
    else break;
  }
  if (e === q) return undefined;
  TOKEN.text = payload.slice(q, e);
  TOKEN.next = payload.charCodeAt(e);
  return TOKEN;
}

/**
 * Every `key = value` pair of a payload (key [A-Za-z_][\w.]*, `=` or `:` with optional white space, value a
 * decimal or 0x-hex integer, optionally negative); a dot in a key becomes `_` (the first one). One pass, no
 * backtracking.
 */
export function kv(payload: string): Map<string, number> {
  const m = new Map<string, number>();
  const n = payload.length;
  let i = 0;
  while (i < n) {
    if (!isKeyStart(payload.charCodeAt(i))) {
      i++;
      continue;
    }
    let j = i + 1;
    while (j < n && isKeyChar(payload.charCodeAt(j))) j++;
    let q = j;
    while (q < n && isSpace(payload.charCodeAt(q))) q++;
    const sep = payload.charCodeAt(q);
    if (sep === 61 || sep === 58) {
      q++;
      while (q < n && isSpace(payload.charCodeAt(q))) q++;
      const e = numberEnd(payload, q);
      if (e > q) {
        m.set(payload.slice(i, j).replace('.', '_'), num(payload.slice(q, e)));
        i = e;
        continue;
      }
    }
    i = j;
  }
  return m;
}
