import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { KurentoError } from '../rpc/KurentoError.js';

/**
 * The Kurento interface definitions (kmd) shipped in the kurento-client npm
 * packages. They are the single source of truth for which operations,
 * properties, parameter types and events each class has, so the engine
 * validates requests exactly against what kurento-client was generated from.
 */
export interface KmdParam {
  name: string;
  type: string;
  optional?: boolean;
  defaultValue?: unknown;
}
export interface KmdMethod {
  name: string;
  params: KmdParam[];
  return?: { type: string };
}
export interface KmdProperty {
  name: string;
  type: string;
  readOnly?: boolean;
  final?: boolean;
}
export interface KmdClass {
  name: string;
  extends?: string;
  abstract?: boolean;
  constructor?: { params: KmdParam[] };
  properties?: KmdProperty[];
  methods?: KmdMethod[];
  events?: string[];
}
export interface KmdComplexType {
  name: string;
  typeFormat: 'ENUM' | 'REGISTER';
  values?: string[];
  properties?: KmdParam[];
  extends?: string;
}
interface KmdModule {
  name: string;
  version: string;
  remoteClasses: KmdClass[];
  complexTypes: KmdComplexType[];
}

export interface LoadedModule {
  name: string;
  version: string;
  /** The kmd file's text, returned verbatim by ServerManager.getKmd. */
  text: string;
}

export type Operation =
  | { kind: 'method'; name: string; params: KmdParam[] }
  | { kind: 'get'; property: KmdProperty }
  | { kind: 'set'; property: KmdProperty };

/** Resolves an object id received as an argument; used for remote-class parameters. */
export interface ObjectResolver {
  resolveArgument(id: string): { className: string } | undefined;
}

const require = createRequire(import.meta.url);

function load(pkg: string, file: string): { module: KmdModule; text: string } {
  const path = require.resolve(`${pkg}/src/${file}`);
  const text = readFileSync(path, 'utf8');
  return { module: JSON.parse(text) as KmdModule, text };
}

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

/** A serialised client-side MediaObject: `{ id, ...its own fields }`. */
function isObjectWithId(value: unknown): value is { id: string } {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { id?: unknown }).id === 'string'
  );
}

function upperFirst(name: string): string {
  return name.charAt(0).toUpperCase() + name.slice(1);
}

export class Kmd {
  readonly modules: LoadedModule[] = [];
  readonly #classes = new Map<string, KmdClass>();
  readonly #complex = new Map<string, KmdComplexType>();

  constructor() {
    const sources: Array<[string, string]> = [
      ['kurento-client-core', 'core.kmd.json'],
      ['kurento-client-elements', 'elements.kmd.json'],
      ['kurento-client-filters', 'filters.kmd.json'],
    ];
    for (const [pkg, file] of sources) {
      const { module, text } = load(pkg, file);
      this.modules.push({ name: module.name, version: module.version, text });
      for (const cls of module.remoteClasses) this.#classes.set(cls.name, cls);
      for (const type of module.complexTypes) this.#complex.set(type.name, type);
    }
  }

  hasClass(name: string): boolean {
    return this.#classes.has(name);
  }

  /** The class itself followed by its ancestors, nearest first. */
  lineage(className: string): KmdClass[] {
    const chain: KmdClass[] = [];
    let current = this.#classes.get(className);
    while (current) {
      chain.push(current);
      current = current.extends ? this.#classes.get(current.extends) : undefined;
    }
    return chain;
  }

  /** describe's `hierarchy`: ancestors only, nearest first, `kurento.` prefixed. */
  hierarchy(className: string): string[] {
    return this.lineage(className)
      .slice(1)
      .map((cls) => `kurento.${cls.name}`);
  }

  isA(className: string, ancestor: string): boolean {
    return this.lineage(className).some((cls) => cls.name === ancestor);
  }

  events(className: string): Set<string> {
    const events = new Set<string>();
    for (const cls of this.lineage(className))
      for (const event of cls.events ?? []) events.add(event);
    return events;
  }

  constructorParams(className: string): KmdParam[] {
    return this.#classes.get(className)?.constructor?.params ?? [];
  }

  /**
   * Finds `operation` on the class or an ancestor: a method, or a property
   * getter `getFoo` / setter `setFoo` (kurento-protocol.md §2.2).
   */
  findOperation(className: string, operation: string): Operation | undefined {
    for (const cls of this.lineage(className)) {
      const method = cls.methods?.find((m) => m.name === operation);
      if (method) return { kind: 'method', name: method.name, params: method.params };
      for (const property of cls.properties ?? []) {
        const suffix = upperFirst(property.name);
        if (operation === `get${suffix}`) return { kind: 'get', property };
        if (operation === `set${suffix}` && !property.readOnly && !property.final) {
          return { kind: 'set', property };
        }
      }
    }
    return undefined;
  }

  /**
   * Checks named arguments against kmd parameters. Missing required ones and
   * values of the wrong type give 40001 in KMS's wording; optional ones get
   * their kmd default when it has one.
   */
  marshalParams(
    params: KmdParam[],
    values: Record<string, unknown>,
    resolver: ObjectResolver,
  ): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const param of params) {
      const value = values[param.name];
      if (value === undefined || value === null) {
        if (!param.optional) throw KurentoError.marshall(`'${param.name}' parameter is required`);
        if (param.defaultValue !== undefined) out[param.name] = param.defaultValue;
        continue;
      }
      out[param.name] = this.marshal(param.type, value, param.name, resolver);
    }
    return out;
  }

  marshal(type: string, value: unknown, name: string, resolver: ObjectResolver): unknown {
    const should = (word: string): KurentoError =>
      KurentoError.marshall(`'${name}' parameter should be a ${word}`);
    if (type.endsWith('[]')) {
      if (!Array.isArray(value)) throw should('list');
      const inner = type.slice(0, -2);
      return value.map((item: unknown) => this.marshal(inner, item, name, resolver));
    }
    if (type.endsWith('<>')) {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw should('map');
      const inner = type.slice(0, -2);
      const out: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(value))
        out[key] = this.marshal(inner, item, name, resolver);
      return out;
    }
    switch (type) {
      case 'String':
        if (typeof value !== 'string') throw should('string');
        return value;
      case 'boolean':
        if (typeof value !== 'boolean') throw should('boolean');
        return value;
      case 'int':
        if (
          typeof value !== 'number' ||
          !Number.isInteger(value) ||
          value < INT32_MIN ||
          value > INT32_MAX
        ) {
          throw should('integer');
        }
        return value;
      case 'int64':
        if (typeof value !== 'number' || !Number.isInteger(value)) throw should('int64');
        return value;
      case 'float':
      case 'double':
        if (typeof value !== 'number' || !Number.isFinite(value)) throw should('double');
        return value;
      default:
        break;
    }
    const complex = this.#complex.get(type);
    if (complex?.typeFormat === 'ENUM') {
      if (typeof value !== 'string' || !(complex.values ?? []).includes(value)) {
        throw KurentoError.marshall(`Invalid value for '${type}'`);
      }
      return value;
    }
    if (complex?.typeFormat === 'REGISTER') {
      if (typeof value !== 'object' || value === null || Array.isArray(value))
        throw should('object');
      const record = value as Record<string, unknown>;
      const fields = this.registerFields(type);
      const out = this.marshalParams(fields, record, resolver);
      return { __module__: 'kurento', __type__: type, ...out };
    }
    if (this.#classes.has(type)) {
      // kurento-client 7.2's generated DispatcherOneToMany.setSource skips the checkType that
      // turns an object argument into its id, so the object's own fields arrive instead.
      if (isObjectWithId(value)) value = value.id;
      if (typeof value !== 'string') throw should('string');
      const target = resolver.resolveArgument(value);
      if (!target) throw KurentoError.objectNotFound(value);
      if (!this.isA(target.className, type)) {
        throw KurentoError.marshall(
          `'${name}' parameter should be a ${type}, but '${value}' is a ${target.className}`,
        );
      }
      return value;
    }
    throw KurentoError.marshall(`'${name}' has unknown type '${type}'`);
  }

  /** Fields of a register type, including those of the types it extends. */
  registerFields(type: string): KmdParam[] {
    const fields: KmdParam[] = [];
    let current = this.#complex.get(type);
    while (current) {
      fields.push(...(current.properties ?? []));
      current = current.extends ? this.#complex.get(current.extends) : undefined;
    }
    return fields;
  }
}
