/**
 * Finds and parses openapi.yaml, the API's contract. It ships at the package root; the code
 * runs either bundled (dist/*.js, one level down) or from source (src/server/, two down).
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

/** The path of openapi.yaml next to the package, or undefined. */
export function findSpecFile(): string | undefined {
  for (const rel of ['../openapi.yaml', '../../openapi.yaml']) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  return undefined;
}

/** The parsed specification; throws with a one-line message when it is missing or broken. */
export function loadSpec(file = findSpecFile()): object {
  if (!file) throw new Error('reprovm: error: serve: openapi.yaml is missing from the installation (it belongs next to package.json)');
  const doc = parse(readFileSync(file, 'utf8')) as unknown;
  if (typeof doc !== 'object' || doc === null) throw new Error(`reprovm: error: serve: ${file} is not an OpenAPI document`);
  return doc;
}
