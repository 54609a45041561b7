import picomatch from 'picomatch';

/** Characters that can make a pattern a glob; a path without any is a plain path (the common, hot case). */
const GLOB_CHARS = /[*?[\]{}()!+@]/;

/** True if `pattern` is a glob rather than a literal path. */
export function isGlob(pattern: string): boolean {
  return GLOB_CHARS.test(pattern) && picomatch.scan(pattern).isGlob;
}
