const VOID = new Set(['meta', 'link', 'br', 'hr', 'img', 'input']);
const NAME = /^[A-Za-z][\w:.-]*/;
const ENTITY = /^&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/;

/**
 * A strict, tiny well-formedness check for the markup this package writes:
 * balanced tags, quoted attributes, no bare `<` or `&` in text or attribute
 * values. `html` mode allows a doctype and void elements (`<meta>`).
 * Returns the names of the top-level elements.
 */
export function checkMarkup(text: string, mode: 'xml' | 'html' = 'xml'): string[] {
  const stack: string[] = [];
  const roots: string[] = [];
  let i = 0;
  const fail = (message: string): never => {
    throw new Error(`${message} at offset ${i}: …${text.slice(Math.max(0, i - 40), i + 40)}…`);
  };
  const checkText = (chunk: string) => {
    for (let j = chunk.indexOf('&'); j >= 0; j = chunk.indexOf('&', j + 1)) {
      if (!ENTITY.test(chunk.slice(j))) fail(`bare & in ${JSON.stringify(chunk.slice(j, j + 12))}`);
    }
  };
  while (i < text.length) {
    const lt = text.indexOf('<', i);
    const chunk = lt < 0 ? text.slice(i) : text.slice(i, lt);
    checkText(chunk);
    if (chunk.trim() !== '' && stack.length === 0) fail('text outside the root element');
    if (lt < 0) break;
    i = lt;
    if (text.startsWith('<!--', i)) {
      const end = text.indexOf('-->', i);
      if (end < 0) fail('unclosed comment');
      i = end + 3;
      continue;
    }
    if (mode === 'html' && /^<!doctype html>/i.test(text.slice(i))) {
      i = text.indexOf('>', i) + 1;
      continue;
    }
    if (text[i + 1] === '/') {
      const name = NAME.exec(text.slice(i + 2))?.[0] ?? fail('bad closing tag');
      if (stack.pop() !== name) fail(`</${name}> does not close the open element`);
      i += 2 + name.length;
      if (text[i] !== '>') fail('junk in closing tag');
      i++;
      continue;
    }
    const name = NAME.exec(text.slice(i + 1))?.[0] ?? fail('bare < in text');
    i += 1 + name.length;
    const seen = new Set<string>();
    for (;;) {
      const ws = /^\s*/.exec(text.slice(i))![0].length;
      i += ws;
      if (text.startsWith('/>', i)) {
        i += 2;
        if (stack.length === 0) roots.push(name);
        break;
      }
      if (text[i] === '>') {
        i++;
        if (stack.length === 0) roots.push(name);
        if (!(mode === 'html' && VOID.has(name.toLowerCase()))) stack.push(name);
        break;
      }
      if (ws === 0) fail(`attributes of <${name}> must be separated by spaces`);
      const attr = NAME.exec(text.slice(i))?.[0] ?? fail(`bad attribute in <${name}>`);
      if (seen.has(attr)) fail(`duplicate attribute ${attr}`);
      seen.add(attr);
      i += attr.length;
      if (text[i] !== '=' || text[i + 1] !== '"') fail(`attribute ${attr} must be ="quoted"`);
      const end = text.indexOf('"', i + 2);
      if (end < 0) fail('unclosed attribute value');
      const value = text.slice(i + 2, end);
      if (value.includes('<')) fail(`< inside attribute ${attr}`);
      checkText(value);
      i = end + 1;
    }
  }
  if (stack.length > 0) fail(`unclosed elements: ${stack.join(' > ')}`);
  return roots;
}
