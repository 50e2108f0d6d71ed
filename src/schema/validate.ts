/**
 * Running a compiled validator (src/schema/generated/) and turning its first error into one usage-error
 * line that names the field: `--regs: CMDQ_PRODD: unknown key (did you mean CMDQ_PROD?)`,
 * `--regs: CMDQ_BASE: expected a 64-bit value: …, got "4585"`.
 */
import { InputError } from '../parse.js';
import { formatPath } from './json.js';

/** One error as ajv's compiled code reports it (verbose: with the failing schema and data). */
export interface SchemaError {
  readonly instancePath: string;
  readonly schemaPath: string;
  readonly keyword: string;
  readonly params: Readonly<Record<string, unknown>>;
  readonly message?: string;
  readonly parentSchema?: Readonly<Record<string, unknown>>;
  readonly data?: unknown;
}

/** A compiled validator. */
export interface Validator {
  (data: unknown): boolean;
  errors?: readonly SchemaError[] | null;
}

/** The path segments of a JSON pointer (`/a/0/b~1c` → a, 0, b/c). */
function pointerPath(pointer: string): Array<string | number> {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^(0|[1-9][0-9]{0,8})$/.test(s) ? Number(s) : s));
}

/** A short rendering of a bad value for the message. */
export function shown(v: unknown): string {
  if (v === undefined) return 'nothing';
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function distance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  const prev = Array.from({ length: b.length + 1 }, (_, k) => k);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(up + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

/** The nearest known key (same letters in another case, or at most 2 edits away). */
export function nearestKey(key: string, known: readonly string[]): string | undefined {
  const upper = key.toUpperCase();
  const same = known.find((k) => k.toUpperCase() === upper);
  if (same !== undefined) return same;
  let best: string | undefined;
  let bestD = 3;
  for (const k of known) {
    const d = distance(upper, k.toUpperCase());
    if (d < bestD) {
      best = k;
      bestD = d;
    }
  }
  return best;
}

function unknownKey(e: SchemaError): string {
  const props = e.parentSchema?.properties;
  const known = props && typeof props === 'object' ? Object.keys(props) : [];
  const key = String(e.params.additionalProperty);
  const near = nearestKey(key, known);
  if (near !== undefined) return `unknown key (did you mean ${near}?)`;
  if (known.length > 0 && known.length <= 16) return `unknown key (known: ${known.join(', ')})`;
  return 'unknown key';
}

/** The error to report: the summary of a failed anyOf/oneOf if there is one, else the first. */
function pick(errors: readonly SchemaError[]): SchemaError {
  return errors.find((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf') ?? errors[0]!;
}

/** The one-line message (without the source) for a validator's errors. */
export function describeErrors(errors: readonly SchemaError[]): { field: string; message: string } {
  const e = pick(errors);
  const path = pointerPath(e.instancePath);
  const description = e.parentSchema?.description;
  const expected = typeof description === 'string' ? description : undefined;
  switch (e.keyword) {
    case 'additionalProperties':
      return { field: formatPath([...path, String(e.params.additionalProperty)]), message: unknownKey(e) };
    case 'required':
      return { field: formatPath([...path, String(e.params.missingProperty)]), message: 'missing (it is required)' };
    case 'enum':
      // An enum with a title names what the value is: `unknown type "S3_MAGIC" (expected S1_ASID, …)`.
      if (typeof e.parentSchema?.title === 'string') {
        const values = Array.isArray(e.params.allowedValues) ? (e.params.allowedValues as unknown[]) : [];
        const list = values.length > 0 && values.length <= 16 ? ` (expected ${values.map(String).join(', ')})` : '';
        return { field: formatPath(path), message: `unknown ${e.parentSchema.title} ${shown(e.data)}${list}` };
      }
      break;
  }
  const field = formatPath(path);
  const got = `got ${shown(e.data)}`;
  // A document's own description says what it is, not what a bad value should be: name the type.
  if (e.keyword === 'type' && (path.length === 0 || expected === undefined))
    return { field, message: `expected ${typeName(e.params.type)}, ${got}` };
  if (expected !== undefined) return { field, message: `expected ${expected}, ${got}` };
  return { field, message: `${e.message ?? e.keyword}, ${got}` };
}

function typeName(t: unknown): string {
  const names: Record<string, string> = {
    object: 'a JSON object',
    array: 'an array',
    string: 'a string',
    integer: 'an integer',
    number: 'a number',
    boolean: 'true or false',
    null: 'null',
  };
  return Array.isArray(t) ? t.map(typeName).join(' or ') : (names[String(t)] ?? String(t));
}

/**
 * Validate `doc`, a value found at path `where` (`stdin[3]`; '' for a document whose errors name the field
 * alone); on failure throw InputError naming the field under `where` (`stdin[3].fields.cs`), or `root`
 * for the value itself.
 */
export function checkAt<T>(validate: Validator, doc: unknown, where: string, root = where): T {
  if (validate(doc)) return doc as T;
  const { field, message } = describeErrors(validate.errors ?? []);
  const at = field === '' ? root : where === '' || field.startsWith('[') ? `${where}${field}` : `${where}.${field}`;
  throw new InputError(at, message);
}

/** Validate `doc`; on failure throw InputError naming `source` and the field. */
export function checkDocument<T>(validate: Validator, doc: unknown, source: string): T {
  if (validate(doc)) return doc as T;
  const { field, message } = describeErrors(validate.errors ?? []);
  throw new InputError(field === '' ? source : `${source}: ${field}`, message);
}
