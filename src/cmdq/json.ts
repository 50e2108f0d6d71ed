/**
 * The JSON edge of the codec: commands and decode results to the documented JSON shapes, and commands from
 * user JSON (`{"name": …, "fields": {…}}`) with errors naming the field.
 */
import { hex64, hexAddr } from '../bits.js';
import { InputError, parseUint } from '../parse.js';
import type { CommandIssue } from './check.js';
import { isAddressField, type DecodeResult } from './codec.js';
import type { Command } from './command.js';
import { OPCODE_SPECS, Opcode, fieldNames, type CommandName } from './opcodes.js';

export type JsonFields = Record<string, number | string>;

/** Fields of a command for JSON: numbers, except byte addresses as `0x…` strings. */
export function fieldsToJson(cmd: Command): JsonFields {
  const out: JsonFields = {};
  const rec = cmd as unknown as Record<string, number>;
  for (const f of fieldNames(cmd.name)) {
    const v = rec[f] ?? 0;
    out[f] = isAddressField(f) ? hexAddr(v) : v;
  }
  return out;
}

export function wordsToJson(h0: number, h1: number, h2: number, h3: number): [string, string] {
  return [hex64(h0, h1), hex64(h2, h3)];
}

export function issueToJson(i: CommandIssue): Record<string, string | number> {
  const o: Record<string, string | number> = {
    kind: i.kind,
    rule: i.rule,
    field: i.field,
    value: i.value,
    reason: i.reason,
  };
  if (i.command) o.command = i.command;
  return o;
}

/** One decoded entry in the `decode --json` shape. */
export function decodedEntryToJson(
  index: number,
  r: DecodeResult,
  halves: [number, number, number, number],
): Record<string, unknown> {
  const words = wordsToJson(...halves);
  const warnings = r.warnings.length ? { warnings: r.warnings.map(issueToJson) } : {};
  if (r.ok) {
    return {
      index,
      name: r.command.name,
      opcode: Opcode[r.command.name],
      fields: fieldsToJson(r.command),
      words,
      ...warnings,
    };
  }
  return { index, opcode: r.opcode, error: issueToJson(r.error), words, ...warnings };
}

/** Keys accepted in a command object: name and fields, plus those of a `decode --json` entry (ignored). */
const ENTRY_KEYS = new Set(['name', 'fields', 'opcode', 'words', 'index', 'warnings', 'judged']);

/**
 * A command from user JSON: `{"name": "TLBI_NH_VA", "fields": {"asid": 5, "addr": "0x1000", …}}`. Omitted
 * fields are 0; unknown names and fields are errors. Values accept numbers, `0x` hex and size suffixes.
 */
export function commandFromJson(obj: unknown, where = 'entry'): Command {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj))
    throw new InputError(where, 'expected an object {"name": …, "fields": {…}}');
  const o = obj as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (!ENTRY_KEYS.has(k)) throw new InputError(`${where}.${k}`, 'unknown key (expected name and fields)');
  const name = o.name;
  if (typeof name !== 'string' || !Object.prototype.hasOwnProperty.call(OPCODE_SPECS, name))
    throw new InputError(`${where}.name`, `unknown command name ${JSON.stringify(name)}`);
  const cname = name as CommandName;
  if (o.opcode !== undefined && o.opcode !== Opcode[cname])
    throw new InputError(`${where}.opcode`, `${String(o.opcode)} does not match ${cname} (${Opcode[cname]})`);
  const allowed = new Set<string>(fieldNames(cname));
  const fields = o.fields ?? {};
  if (typeof fields !== 'object' || fields === null || Array.isArray(fields))
    throw new InputError(`${where}.fields`, 'expected an object');
  const out: Record<string, number | string> = { name: cname };
  for (const [k, v] of Object.entries(fields as Record<string, unknown>)) {
    if (!allowed.has(k))
      throw new InputError(
        `${where}.fields.${k}`,
        `${cname} has no field ${k} (fields: ${[...allowed].join(', ') || 'none'})`,
      );
    out[k] = parseUint(v, `${where}.fields.${k}`);
  }
  return out as unknown as Command;
}
