/**
 * The layout of the JSON documents the tools write a piece at a time (the audit's `--json` records, the CLI's
 * document writer): the one rule that makes a streamed document byte-identical to `JSON.stringify(doc, null, 2)`.
 * Kept apart from the writers so that a command that only decodes does not load the audit to reach it.
 */

/** `JSON.stringify(v, null, 2)` with every line after the first indented by `pad` (to nest it in a document). */
export function nestedJson(v: unknown, pad: string): string {
  const s = JSON.stringify(v, null, 2);
  return s.indexOf('\n') < 0 ? s : s.replace(/\n/g, '\n' + pad);
}
