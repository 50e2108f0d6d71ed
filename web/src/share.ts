/**
 * Share links: where the page state (the query text of state.ts) lives in a URL.
 *
 * - A small state stays readable in the query string, `?view=plan&start=…` (old links are all of this form
 *   and keep opening).
 * - A larger one — pasted queues, mostly — goes into the fragment, compressed: `#z=` + base64url of the
 *   deflate-raw bytes (the platform's CompressionStream) of the same query text. A fragment is never sent to
 *   the server, so no server limit applies (`serve`, like most servers, answers HTTP 431 to a request line
 *   over about 16 KB; a query of 5,000 pasted entries is some 400 KB).
 * - A link longer than {@link UrlMaxChars} is not produced: browsers refuse it.
 */

/** A state whose query text is at most this long stays in the query string (readable in a review). */
export const InlineQueryMax = 2000;

/**
 * The longest URL (in characters, the whole address) the page writes. Firefox refuses URLs over 1 MiB
 * (its `network.standard-url.max-length` defaults to 1,048,576); Chromium's limit is 2 MiB
 * (`url::kMaxURLChars`), Safari's larger still. The smallest of these is the one a shared link must meet.
 */
export const UrlMaxChars = 1_048_576;

/** Decompressed state text above this is refused (a hostile link must not exhaust memory). */
export const UnpackedMaxChars = 64 * 2 ** 20;

/** The fragment key of a compressed state. */
const Key = 'z=';

export interface Link {
  /** The link relative to the page: `?query`, `#z=…`, or '' for the default state. */
  readonly href: string;
  readonly kind: 'query' | 'fragment';
  /** Length of the whole address: `base` + href. */
  readonly length: number;
  /** Longer than UrlMaxChars: a browser would refuse it. */
  readonly tooLong: boolean;
}

async function streamBytes(
  data: Uint8Array<ArrayBuffer>,
  through: CompressionStream | DecompressionStream,
): Promise<Uint8Array> {
  const out = new Blob([data]).stream().pipeThrough(through);
  return new Uint8Array(await new Response(out).arrayBuffer());
}

function toBase64url(bytes: Uint8Array): string {
  let bin = '';
  const Chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += Chunk) bin += String.fromCharCode(...bytes.subarray(i, i + Chunk));
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromBase64url(text: string): Uint8Array<ArrayBuffer> {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new Error('is not base64url text');
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes;
}

/** The compressed form of a state's query text (base64url, no padding). */
export async function packQuery(query: string): Promise<string> {
  return toBase64url(await streamBytes(new TextEncoder().encode(query), new CompressionStream('deflate-raw')));
}

/** The query text of a compressed state; throws an Error saying what is wrong with it. */
export async function unpackQuery(packed: string): Promise<string> {
  const bytes = fromBase64url(packed);
  const reader = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('deflate-raw')).getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > UnpackedMaxChars) throw new Error(`holds more than ${UnpackedMaxChars} bytes of state`);
      parts.push(value);
    }
  } catch (e) {
    void reader.cancel().catch(() => undefined);
    throw e instanceof Error && e.message.startsWith('holds') ? e : new Error('is not deflate-raw data');
  }
  const all = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(all);
  } catch {
    throw new Error('is not UTF-8 text');
  }
}

function linkOf(base: string, href: string, kind: Link['kind']): Link {
  const length = base.length + href.length;
  return { href, kind, length, tooLong: length > UrlMaxChars };
}

/** The link of a small state (in the query string), or null when its query text is too long for that. */
export function inlineLink(base: string, query: string): Link | null {
  return query.length <= InlineQueryMax ? linkOf(base, query ? `?${query}` : '', 'query') : null;
}

/** The link for a state's query text; `base` is the address up to and including the path. */
export async function linkFor(base: string, query: string): Promise<Link> {
  return inlineLink(base, query) ?? linkOf(base, `#${Key}${await packQuery(query)}`, 'fragment');
}

/** Whether a location's fragment holds a compressed state. */
export function hasPackedState(hash: string): boolean {
  return hash.startsWith(`#${Key}`);
}

/**
 * The state query text a location holds: a compressed fragment wins over the query string. A damaged
 * fragment gives the query string's state (usually the default) and a message for the page to show.
 */
export async function queryOfLocation(search: string, hash: string): Promise<{ query: string; error?: string }> {
  if (!hasPackedState(hash)) return { query: search.replace(/^\?/, '') };
  try {
    return { query: await unpackQuery(hash.slice(1 + Key.length)) };
  } catch (e) {
    return {
      query: search.replace(/^\?/, ''),
      error: `this link's state (#${Key}…) ${(e as Error).message}: it cannot be opened; showing the case without it`,
    };
  }
}
