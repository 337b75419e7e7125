// A small, safe XML reader for libvirt's domain XML. Safe by construction: it knows no DTD, so a
// document with <!DOCTYPE> or <!ENTITY> is refused instead of expanded (no external entities, no
// entity bombs), only the five predefined entities and numeric references are decoded, and the
// nesting depth and size are bounded. Elements, attributes and text only; comments, processing
// instructions and CDATA are handled, namespaces are kept as plain names.

export interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  text: string;
}

export class XmlError extends Error {
  override name = "XmlError";
}

/** Bounds: libvirt's XML for one domain is a few KiB; these leave wide room and stop abuse. */
export const xmlLengthMax = 4 * 1024 * 1024;
export const xmlDepthMax = 64;

const predefinedEntities: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" };

function decodeEntities(text: string, offset: number): string {
  return text.replace(/&([^;&\s]{1,10});/g, (match, name: string) => {
    if (name.startsWith("#x")) return codePoint(Number.parseInt(name.slice(2), 16), match, offset);
    if (name.startsWith("#")) return codePoint(Number.parseInt(name.slice(1), 10), match, offset);
    const value = predefinedEntities[name];
    if (value === undefined) throw new XmlError(`undefined entity ${match} near offset ${offset}`);
    return value;
  });
}

function codePoint(value: number, match: string, offset: number): string {
  if (!Number.isInteger(value) || value < 0 || value > 0x10ffff) throw new XmlError(`bad character reference ${match} near offset ${offset}`);
  return String.fromCodePoint(value);
}

const namePattern = /^[A-Za-z_][\w.:-]*/;
const attributePattern = /^\s+([A-Za-z_][\w.:-]*)\s*=\s*("([^"<]*)"|'([^'<]*)')/;

/** Parses a whole document; returns its root element or throws XmlError. */
export function parseXml(document: string): XmlElement {
  if (document.length > xmlLengthMax) throw new XmlError(`document is longer than ${xmlLengthMax} characters`);
  let position = 0;
  const stack: XmlElement[] = [];
  let root: XmlElement | null = null;
  while (position < document.length) {
    const open = document.indexOf("<", position);
    const textEnd = open === -1 ? document.length : open;
    if (textEnd > position) {
      const text = document.slice(position, textEnd);
      const parent = stack.at(-1);
      if (parent !== undefined) parent.text += decodeEntities(text, position);
      else if (text.trim() !== "") throw new XmlError(`text outside the root element at offset ${position}`);
    }
    if (open === -1) break;
    position = parseMarkup(document, open, stack, (element) => {
      if (root !== null) throw new XmlError(`a second root element <${element.name}> at offset ${open}`);
      root = element;
    });
  }
  if (stack.length > 0) throw new XmlError(`<${stack.at(-1)!.name}> is not closed`);
  if (root === null) throw new XmlError("the document has no root element");
  return root;
}

/** Handles one piece of markup at `open`; returns the position after it. */
function parseMarkup(document: string, open: number, stack: XmlElement[], setRoot: (element: XmlElement) => void): number {
  const rest = document.startsWith.bind(document);
  if (rest("<?", open)) return skipTo(document, "?>", open);
  if (rest("<!--", open)) return skipTo(document, "-->", open);
  if (rest("<![CDATA[", open)) {
    const end = skipTo(document, "]]>", open);
    const parent = stack.at(-1);
    if (parent === undefined) throw new XmlError(`CDATA outside the root element at offset ${open}`);
    parent.text += document.slice(open + 9, end - 3);
    return end;
  }
  if (rest("<!", open)) throw new XmlError(`declarations (<!DOCTYPE>, <!ENTITY>) are refused, at offset ${open}`);
  if (rest("</", open)) {
    const close = document.indexOf(">", open);
    if (close === -1) throw new XmlError(`unterminated end tag at offset ${open}`);
    const name = document.slice(open + 2, close).trim();
    const element = stack.pop();
    if (element === undefined || element.name !== name) throw new XmlError(`</${name}> does not close <${element?.name ?? "nothing"}> at offset ${open}`);
    return close + 1;
  }
  return parseStartTag(document, open, stack, setRoot);
}

function skipTo(document: string, terminator: string, open: number): number {
  const end = document.indexOf(terminator, open);
  if (end === -1) throw new XmlError(`unterminated markup at offset ${open}`);
  return end + terminator.length;
}

function parseStartTag(document: string, open: number, stack: XmlElement[], setRoot: (element: XmlElement) => void): number {
  let position = open + 1;
  const name = namePattern.exec(document.slice(position, position + 256))?.[0];
  if (name === undefined) throw new XmlError(`bad tag name at offset ${open}`);
  position += name.length;
  const element: XmlElement = { name, attributes: {}, children: [], text: "" };
  for (;;) {
    const window = document.slice(position, position + 8192);
    const attribute = attributePattern.exec(window);
    if (attribute === null) break;
    const key = attribute[1]!;
    if (key in element.attributes) throw new XmlError(`attribute ${key} repeated on <${name}> at offset ${position}`);
    element.attributes[key] = decodeEntities(attribute[3] ?? attribute[4] ?? "", position);
    position += attribute[0].length;
  }
  const tail = /^\s*(\/?)>/.exec(document.slice(position, position + 64));
  if (tail === null) throw new XmlError(`malformed tag <${name}> at offset ${open}`);
  position += tail[0].length;
  const parent = stack.at(-1);
  if (parent === undefined) setRoot(element);
  else parent.children.push(element);
  if (tail[1] !== "/") {
    if (stack.length >= xmlDepthMax) throw new XmlError(`elements nest deeper than ${xmlDepthMax}`);
    stack.push(element);
  }
  return position;
}

/** The direct children named `name`. */
export function childrenNamed(element: XmlElement, name: string): XmlElement[] {
  return element.children.filter((child) => child.name === name);
}

/** The first direct child named `name`, if any. */
export function childNamed(element: XmlElement, name: string): XmlElement | undefined {
  return element.children.find((child) => child.name === name);
}
