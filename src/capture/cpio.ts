/**
 * A writer of "newc" cpio archives (the format the kernel unpacks as an initramfs: magic 070701, thirteen
 * 8-digit hex fields, the NUL-terminated name, data, each padded to 4 bytes, ending with TRAILER!!!).
 * Enough for an initramfs: directories, regular files, symlinks and device nodes, all owned by root.
 */

/** One member. `mode` holds the permission bits only; the type comes from `kind`. */
export type CpioEntry =
  | { readonly kind: 'dir'; readonly path: string; readonly mode?: number }
  | { readonly kind: 'file'; readonly path: string; readonly data: Uint8Array; readonly mode?: number }
  | { readonly kind: 'symlink'; readonly path: string; readonly target: string }
  | {
      readonly kind: 'char' | 'block';
      readonly path: string;
      readonly major: number;
      readonly minor: number;
      readonly mode?: number;
    };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;

const utf8 = new TextEncoder();

function hex8(n: number, field: string): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`cpio: ${field} ${n} does not fit 32 bits`);
  return n.toString(16).padStart(8, '0');
}

function pad4(n: number): number {
  return (4 - (n & 3)) & 3;
}

/** Build the archive. Paths are relative (no leading '/'); parents must be listed before their children. */
export function writeCpio(entries: readonly CpioEntry[], mtime = 0): Uint8Array {
  const parts: Uint8Array[] = [];
  let total = 0;
  const push = (b: Uint8Array): void => {
    parts.push(b);
    total += b.length;
  };
  const seen = new Set<string>();
  let ino = 1;
  const member = (path: string, mode: number, data: Uint8Array, rdev: [number, number], nlink: number): void => {
    const name = utf8.encode(path);
    const header =
      '070701' +
      hex8(ino++, 'inode') +
      hex8(mode, 'mode') +
      hex8(0, 'uid') +
      hex8(0, 'gid') +
      hex8(nlink, 'nlink') +
      hex8(mtime, 'mtime') +
      hex8(data.length, `size of ${path}`) +
      hex8(0, 'devmajor') +
      hex8(0, 'devminor') +
      hex8(rdev[0], 'rdevmajor') +
      hex8(rdev[1], 'rdevminor') +
      hex8(name.length + 1, 'namesize') +
      hex8(0, 'check');
    const head = new Uint8Array(110 + name.length + 1 + pad4(110 + name.length + 1));
    head.set(utf8.encode(header), 0);
    head.set(name, 110);
    push(head);
    if (data.length > 0) {
      push(data);
      const p = pad4(data.length);
      if (p > 0) push(new Uint8Array(p));
    }
  };
  for (const e of entries) {
    const path = e.path.replace(/^\/+/, '');
    if (path === '' || path.split('/').some((c) => c === '..' || c === ''))
      throw new RangeError(`cpio: bad path "${e.path}"`);
    if (seen.has(path)) throw new RangeError(`cpio: "${path}" listed twice`);
    const parent = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '';
    if (parent !== '' && !seen.has(parent)) throw new RangeError(`cpio: "${path}" listed before its directory`);
    seen.add(path);
    switch (e.kind) {
      case 'dir':
        member(path, S_IFDIR | (e.mode ?? 0o755), new Uint8Array(0), [0, 0], 2);
        break;
      case 'file':
        member(path, S_IFREG | (e.mode ?? 0o644), e.data, [0, 0], 1);
        break;
      case 'symlink':
        member(path, S_IFLNK | 0o777, utf8.encode(e.target), [0, 0], 1);
        break;
      case 'char':
      case 'block':
        member(
          path,
          (e.kind === 'char' ? S_IFCHR : S_IFBLK) | (e.mode ?? 0o600),
          new Uint8Array(0),
          [e.major, e.minor],
          1,
        );
        break;
    }
  }
  ino = 0;
  member('TRAILER!!!', 0, new Uint8Array(0), [0, 0], 1);
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
