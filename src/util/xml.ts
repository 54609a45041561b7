/*
 * XML 1.0 text helpers. Task output is arbitrary bytes decoded as UTF-8: terminal colour codes,
 * NULs and lone surrogates are not allowed in XML 1.0 at all (not even as character
 * references), so they are removed rather than escaped, or a strict parser rejects the file.
 */

// ANSI CSI sequences (colours, cursor moves): their ESC is illegal and the rest is noise.
const ANSI_CSI = /\x1b\[[0-?]*[ -/]*[@-~]/g;
// Everything outside #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF].
const ILLEGAL = /[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

/** Removes ANSI escape sequences and every character XML 1.0 does not allow. */
export function stripIllegalXml(s: string): string {
  return s.replace(ANSI_CSI, '').replace(ILLEGAL, '');
}

/** Character data: `&`, `<` and `>` escaped (so `]]>` can never appear), illegal characters removed. */
export function xmlText(s: string): string {
  return stripIllegalXml(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * An attribute value for `name="..."`: also quotes escaped, and tab/CR/LF as character
 * references, which attribute-value normalisation would otherwise turn into spaces.
 */
export function xmlAttr(s: string): string {
  return xmlText(s).replace(/"/g, '&quot;').replace(/'/g, '&apos;').replace(/\t/g, '&#9;').replace(/\n/g, '&#10;').replace(/\r/g, '&#13;');
}
