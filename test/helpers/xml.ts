/**
 * A strict, small XML 1.0 parser for tests (no DTDs, no namespaces processing): throws on
 * anything that is not well-formed — unclosed or mismatched tags, unquoted or duplicate
 * attributes, a raw `<` or `&` in text or attribute values, unknown entities, characters XML
 * forbids, content after the root. Used to check the JUnit report when `xmllint` is missing.
 */
export interface XmlElement {
  readonly name: string;
  readonly attrs: Readonly<Record<string, string>>;
  readonly children: XmlElement[];
  /** Character data directly inside this element (entities decoded). */
  text: string;
}

const NAME = /[A-Za-z_:][-A-Za-z0-9_.:]*/y;
const ILLEGAL = /[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;
const ENTITIES: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** Parses a whole document and returns its root element. */
export function parseXmlStrict(doc: string): XmlElement {
  const illegal = ILLEGAL.exec(doc);
  if (illegal) throw new Error(`illegal character U+${illegal[0].codePointAt(0)?.toString(16)} at ${illegal.index}`);
  let i = 0;
  const fail = (what: string): never => {
    throw new Error(`${what} at offset ${i}: ${JSON.stringify(doc.slice(i, i + 40))}`);
  };
  const skipSpace = (): void => {
    while (i < doc.length && /\s/.test(doc[i]!)) i++;
  };
  const name = (): string => {
    NAME.lastIndex = i;
    const m = NAME.exec(doc);
    if (!m) return fail('expected a name');
    i += m[0].length;
    return m[0];
  };
  const decode = (raw: string, start: number, text = false): string => {
    if (raw.includes('<')) throw new Error(`raw "<" in character data near offset ${start}`);
    if (text && raw.includes(']]>')) throw new Error(`"]]>" in character data near offset ${start}`);
    return raw.replace(/&([^;]*);|&/g, (whole, ent: string | undefined) => {
      if (ent === undefined) throw new Error(`bare "&" near offset ${start}`);
      if (/^#x[0-9a-fA-F]+$/.test(ent)) return String.fromCodePoint(parseInt(ent.slice(2), 16));
      if (/^#[0-9]+$/.test(ent)) return String.fromCodePoint(parseInt(ent.slice(1), 10));
      const v = ENTITIES[ent];
      if (v === undefined) throw new Error(`unknown entity ${whole} near offset ${start}`);
      return v;
    });
  };
  const skipMisc = (): void => {
    for (;;) {
      skipSpace();
      if (doc.startsWith('<!--', i)) {
        const end = doc.indexOf('-->', i);
        if (end < 0) fail('unclosed comment');
        i = end + 3;
      } else if (doc.startsWith('<?', i)) {
        const end = doc.indexOf('?>', i);
        if (end < 0) fail('unclosed processing instruction');
        i = end + 2;
      } else return;
    }
  };
  const element = (): XmlElement => {
    if (doc[i] !== '<') fail('expected "<"');
    i++;
    const el: XmlElement = { name: name(), attrs: {}, children: [], text: '' };
    const attrs: Record<string, string> = {};
    for (;;) {
      const hadSpace = /\s/.test(doc[i] ?? '');
      skipSpace();
      if (doc.startsWith('/>', i)) {
        i += 2;
        return { ...el, attrs };
      }
      if (doc[i] === '>') {
        i++;
        break;
      }
      if (!hadSpace) fail('expected whitespace before an attribute');
      const attr = name();
      if (attr in attrs) fail(`duplicate attribute ${attr}`);
      skipSpace();
      if (doc[i] !== '=') fail('expected "="');
      i++;
      skipSpace();
      const quote = doc[i];
      if (quote !== '"' && quote !== "'") return fail('expected a quoted attribute value');
      const end = doc.indexOf(quote, i + 1);
      if (end < 0) fail('unclosed attribute value');
      attrs[attr] = decode(doc.slice(i + 1, end), i);
      i = end + 1;
    }
    const full: XmlElement = { ...el, attrs };
    for (;;) {
      const lt = doc.indexOf('<', i);
      if (lt < 0) fail(`unclosed element <${full.name}>`);
      full.text += decode(doc.slice(i, lt), i, true);
      i = lt;
      if (doc.startsWith('</', i)) {
        i += 2;
        const closing = name();
        if (closing !== full.name) fail(`</${closing}> closes <${full.name}>`);
        skipSpace();
        if (doc[i] !== '>') fail('expected ">"');
        i++;
        return full;
      }
      if (doc.startsWith('<!--', i)) {
        const end = doc.indexOf('-->', i);
        if (end < 0) fail('unclosed comment');
        i = end + 3;
      } else if (doc.startsWith('<![CDATA[', i)) {
        const end = doc.indexOf(']]>', i);
        if (end < 0) fail('unclosed CDATA');
        full.text += doc.slice(i + 9, end);
        i = end + 3;
      } else full.children.push(element());
    }
  };
  if (!doc.startsWith('<?xml ')) fail('expected an XML declaration');
  skipMisc();
  const root = element();
  skipMisc();
  if (i !== doc.length) fail('content after the root element');
  return root;
}

/** Every descendant element (depth first) named `name`. */
export function findAll(el: XmlElement, name: string): XmlElement[] {
  const out: XmlElement[] = [];
  const stack = [el];
  while (stack.length > 0) {
    const e = stack.shift()!;
    if (e.name === name) out.push(e);
    stack.unshift(...e.children);
  }
  return out;
}
