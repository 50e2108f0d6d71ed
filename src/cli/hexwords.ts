import { InputError, parseWord64 } from '../parse.js';

/**
 * Parse text holding 64-bit hex words, two per entry (w0 then w1), separated by white space or commas;
 * `#` starts a comment. Returns the halves, four per entry.
 */
export function parseHexPairs(text: string, source: string): Uint32Array {
  const tokens: { t: string; line: number }[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const body = line.replace(/#.*$/, '');
    for (const t of body.split(/[\s,]+/)) if (t) tokens.push({ t, line: i + 1 });
  });
  if (tokens.length % 2 !== 0)
    throw new InputError(source, `odd number of words (${tokens.length}): each entry is two 64-bit words, w0 then w1`);
  const u32 = new Uint32Array(tokens.length * 2);
  tokens.forEach(({ t, line }, k) => {
    const [lo, hi] = parseWord64(t, `${source} line ${line} word ${JSON.stringify(t)}`);
    u32[k * 2] = lo;
    u32[k * 2 + 1] = hi;
  });
  return u32;
}
