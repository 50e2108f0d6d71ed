/** Human-readable formatting of decoded entries (shared by the CLI and the page). */
import { fieldsToJson, wordsToJson, type DecodeResult } from './index.js';

export function formatFields(fields: Record<string, number | string>, name?: string): string {
  return Object.entries(fields)
    .map(([k, v]) => (name === 'CFGI_STE_RANGE' && k === 'range' && v === 31 ? 'range=31(all)' : `${k}=${String(v)}`))
    .join(' ');
}

export function formatDecoded(index: number, r: DecodeResult, h: [number, number, number, number]): string {
  const [w0, w1] = wordsToJson(...h);
  const idx = String(index).padStart(6);
  if (r.ok) {
    const warn = r.warnings.length ? `  ! ${r.warnings.map((w) => `${w.field}: ${w.reason}`).join('; ')}` : '';
    return `${idx}  ${w0} ${w1}  ${r.command.name.padEnd(15)} ${formatFields(fieldsToJson(r.command), r.command.name)}${warn}`;
  }
  const what = r.error.command ?? `opcode 0x${r.opcode.toString(16).padStart(2, '0')}`;
  return `${idx}  ${w0} ${w1}  ILLEGAL         ${what}: ${r.error.field}=${r.error.value}: ${r.error.reason}`;
}
