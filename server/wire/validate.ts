/**
 * A small hand-written validator for everything that arrives from outside (REST bodies,
 * socket.io messages). A `Check<T>` either returns a typed value or throws an
 * InvalidArgumentError whose message names the field and what it accepts, e.g.
 * "body.layout must be one of grid, spotlight, pip". Objects reject unknown fields, so a typo
 * in a request is reported instead of ignored.
 */
import { InvalidArgumentError } from '../domain/errors.js';

export type Check<T> = (value: unknown, path: string) => T;

type Shape = Record<string, Check<unknown>>;
export type Checked<S extends Shape> = { [K in keyof S]: ReturnType<S[K]> };

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Uint8Array || value instanceof ArrayBuffer) return 'binary data';
  if (typeof value === 'string') return `'${value.slice(0, 40)}'`;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return `a value of type ${typeof value}`;
}

function invalid(path: string, expected: string, value: unknown): never {
  const got = value === undefined ? 'it is missing' : `got ${describe(value)}`;
  throw new InvalidArgumentError(`${path} must be ${expected} (${got})`);
}

export function string(options: {
  min?: number;
  max: number;
  pattern?: RegExp;
  what?: string;
}): Check<string> {
  const min = options.min ?? 1;
  const expected = options.what ?? `a string of ${min} to ${options.max} characters`;
  return (value, path) => {
    if (typeof value !== 'string') invalid(path, expected, value);
    const text = value.trim();
    if (text.length < min || text.length > options.max) invalid(path, expected, value);
    if (options.pattern !== undefined && !options.pattern.test(text))
      invalid(path, expected, value);
    return text;
  };
}

export function integer(min: number, max: number): Check<number> {
  return (value, path) => {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      invalid(path, `an integer from ${min} to ${max}`, value);
    }
    return value;
  };
}

export function boolean(): Check<boolean> {
  return (value, path) => {
    if (typeof value !== 'boolean') invalid(path, 'true or false', value);
    return value;
  };
}

export function oneOf<T extends string>(values: readonly T[]): Check<T> {
  return (value, path) => {
    if (typeof value !== 'string' || !(values as readonly string[]).includes(value)) {
      invalid(path, `one of ${values.join(', ')}`, value);
    }
    return value as T;
  };
}

/** A field that may be left out (or sent as undefined). */
export function optional<T>(check: Check<T>): Check<T | undefined> {
  return (value, path) => (value === undefined ? undefined : check(value, path));
}

/**
 * A plain object (what JSON.parse makes): socket.io also delivers binary attachments as Buffers,
 * which are objects too, and an empty one has no fields at all, so it would pass for `{}`.
 */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** A plain object with exactly the fields of `shape` (optional ones may be absent). */
export function object<S extends Shape>(shape: S): Check<Checked<S>> {
  return (value, path) => {
    if (!isPlainObject(value)) invalid(path, 'a JSON object', value);
    const record = value;
    const unknown = Object.keys(record).filter((key) => !Object.hasOwn(shape, key));
    if (unknown.length > 0) {
      throw new InvalidArgumentError(
        `${path} has unknown field(s) ${unknown.join(', ')}; allowed: ${Object.keys(shape).join(', ')}`,
      );
    }
    const result: Record<string, unknown> = {};
    for (const [key, check] of Object.entries(shape)) {
      const checked = check(record[key], `${path}.${key}`);
      if (checked !== undefined) result[key] = checked;
    }
    return result as Checked<S>;
  };
}

/** Like `object`, but at least one field must be present (a PATCH body). */
export function nonEmptyObject<S extends Shape>(shape: S): Check<Partial<Checked<S>>> {
  const check = object(shape);
  return (value, path) => {
    const result = check(value, path);
    if (Object.keys(result).length === 0) {
      throw new InvalidArgumentError(
        `${path} must change at least one of ${Object.keys(shape).join(', ')}`,
      );
    }
    return result;
  };
}
