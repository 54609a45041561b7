/**
 * Response validation against openapi.yaml: every answer a test receives is checked against
 * the response schema the spec declares for its operation and status (or `default`), so the
 * spec and the server cannot drift apart. Also records which (operation, status) pairs were
 * seen, so a test can assert that every operation was exercised.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Ajv2020Module from 'ajv/dist/2020.js';
import type { ValidateFunction } from 'ajv';
import { parse } from 'yaml';

// ajv is CommonJS: under NodeNext its class is the `default` of the module object.
const Ajv2020 = Ajv2020Module.default;

export const SPEC_FILE = fileURLToPath(new URL('../../openapi.yaml', import.meta.url));

interface Operation {
  readonly id: string;
  readonly method: string;
  readonly template: string;
  readonly pattern: RegExp;
  readonly responses: Record<string, unknown>;
}

type Json = Record<string, unknown>;

function pointer(doc: unknown, ref: string): unknown {
  let node = doc;
  for (const raw of ref.replace(/^#\//, '').split('/')) node = (node as Json)[raw.replace(/~1/g, '/').replace(/~0/g, '~')];
  return node;
}

/** The spec's operations and a validator per response schema. */
export class OpenApiChecker {
  readonly doc: Json;
  readonly operations: Operation[] = [];
  readonly seen = new Set<string>();
  readonly #ajv: InstanceType<typeof Ajv2020>;
  readonly #cache = new Map<string, ValidateFunction>();

  constructor(file = SPEC_FILE) {
    this.doc = parse(readFileSync(file, 'utf8')) as Json;
    this.#ajv = new Ajv2020({ strict: false, allErrors: true });
    this.#ajv.addSchema({ ...this.doc, $id: 'spec' }, 'spec');
    for (const [template, item] of Object.entries(this.doc.paths as Json)) {
      for (const [method, op] of Object.entries(item as Json)) {
        const o = op as Json;
        const pattern = new RegExp(`^/api/v1${template.replace(/\{[^}]+\}/g, '[^/]+')}$`);
        this.operations.push({ id: o.operationId as string, method: method.toUpperCase(), template, pattern, responses: o.responses as Json });
      }
    }
  }

  /** The operation a request path (without query) and method belong to. */
  operation(method: string, path: string): Operation | undefined {
    return this.operations.find((o) => o.method === method && o.pattern.test(path));
  }

  /**
   * Checks one answer. Throws with the validation errors when the body does not match, or when
   * the spec declares nothing for the status. `body` is the raw text.
   */
  check(method: string, path: string, status: number, contentType: string, body: string): void {
    const op = this.operation(method, path);
    if (!op) {
      // Unknown routes must still answer with the Error body.
      this.#validate('#/components/schemas/Error', JSON.parse(body), `${method} ${path} ${status}`);
      return;
    }
    this.seen.add(`${op.id} ${status}`);
    let response = op.responses[String(status)] ?? op.responses.default;
    if (response === undefined) throw new Error(`${method} ${path}: status ${status} is not declared in openapi.yaml`);
    let responsePointer = `#/paths/${op.template.replace(/~/g, '~0').replace(/\//g, '~1')}/${method.toLowerCase()}/responses/${op.responses[String(status)] ? status : 'default'}`;
    const ref = (response as Json).$ref;
    if (typeof ref === 'string') {
      responsePointer = ref;
      response = pointer(this.doc, ref);
    }
    const content = (response as Json).content as Json | undefined;
    const type = contentType.split(';')[0]!.trim();
    if (!content) {
      if (body !== '') throw new Error(`${method} ${path} ${status}: the spec declares no body, got ${body.slice(0, 200)}`);
      return;
    }
    if (!(type in content)) throw new Error(`${method} ${path} ${status}: content type ${type} is not declared (declared: ${Object.keys(content).join(', ')})`);
    const schemaPointer = `${responsePointer}/content/${type.replace(/\//g, '~1')}/schema`;
    const value = type === 'application/json' ? (JSON.parse(body) as unknown) : body;
    this.#validate(schemaPointer, value, `${method} ${path} ${status}`);
  }

  #validate(schemaPointer: string, value: unknown, what: string): void {
    const v = this.#cache.get(schemaPointer) ?? this.#ajv.compile({ $ref: `spec${schemaPointer}` });
    this.#cache.set(schemaPointer, v);
    if (!v(value)) throw new Error(`${what}: the answer does not match openapi.yaml: ${this.#ajv.errorsText(v.errors)}\n${JSON.stringify(value).slice(0, 500)}`);
  }
}
