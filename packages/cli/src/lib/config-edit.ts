/**
 * `cairn add` edits the user's cairn.config.ts as text, touching as little as
 * possible: one import line after the last import, and one property of the
 * `stack: { … }` object replaced or inserted. Formatting and comments
 * elsewhere stay byte for byte.
 */

export interface PluginEdit {
  kind: import('./plugins').PluginKind;
  /** The package to import from. */
  packageName: string;
  /** Identifier of the default import. */
  importName: string;
  /**
   * The expression to put in the stack slot, e.g. `s3Storage()`; a function
   * gets the indentation of the line the expression starts on, for calls
   * that span several lines.
   */
  call: string | ((indent: string) => string);
  /**
   * The environment to wire the plugin into (`env.<name>.<kind>`, created
   * when missing); `undefined` for the base `stack`.
   */
  env?: string;
}

export interface EditResult {
  source: string;
  /** The previous value of the slot, when one was replaced. */
  replaced?: string;
}

/** Index just past the string, comment or character starting at `i`. */
function skip(source: string, i: number): number {
  const c = source[i];
  const next = source[i + 1];
  if (c === '/' && next === '/') {
    const end = source.indexOf('\n', i);
    return end < 0 ? source.length : end;
  }
  if (c === '/' && next === '*') {
    const end = source.indexOf('*/', i + 2);
    return end < 0 ? source.length : end + 2;
  }
  if (c === '"' || c === "'" || c === '`') {
    let j = i + 1;
    while (j < source.length && source[j] !== c) {
      if (source[j] === '\\') j++;
      else if (c === '`' && source[j] === '$' && source[j + 1] === '{') j = matching(source, j + 1);
      j++;
    }
    return j + 1;
  }
  return i + 1;
}

/** Index of the bracket closing the one at `open`. */
function matching(source: string, open: number): number {
  const pairs: Record<string, string> = { '{': '}', '(': ')', '[': ']' };
  const stack: string[] = [];
  let i = open;
  while (i < source.length) {
    const c = source[i]!;
    if (pairs[c]) stack.push(pairs[c]!);
    else if (c === stack[stack.length - 1]) {
      stack.pop();
      if (stack.length === 0) return i;
    }
    i = skip(source, i);
  }
  throw new Error('unbalanced brackets in cairn.config.ts');
}

/** Code positions only (outside strings and comments) where `pattern` matches. */
function findInCode(
  source: string,
  pattern: RegExp,
  from = 0,
  to = source.length,
): RegExpExecArray | undefined {
  let i = from;
  while (i < to) {
    const c = source[i]!;
    if (
      (c === '/' && (source[i + 1] === '/' || source[i + 1] === '*')) ||
      c === '"' ||
      c === "'" ||
      c === '`'
    ) {
      i = skip(source, i);
      continue;
    }
    const sticky = new RegExp(pattern.source, 'y');
    sticky.lastIndex = i;
    const match = sticky.exec(source);
    if (match && (i === 0 || !/[\w$.]/.test(source[i - 1]!))) return match;
    i++;
  }
  return undefined;
}

/** Top-level properties of the object literal whose braces are at `open`..`close`. */
function properties(source: string, open: number, close: number) {
  const props: Array<{ key: string; keyStart: number; valueStart: number; valueEnd: number }> = [];
  let i = open + 1;
  while (i < close) {
    while (i < close && /[\s,]/.test(source[i]!)) i++;
    if (source[i] === '/' && (source[i + 1] === '/' || source[i + 1] === '*')) {
      i = skip(source, i);
      continue;
    }
    if (i >= close) break;
    const key = /(?:['"]?)([\w$]+)(?:['"]?)\s*:/y;
    key.lastIndex = i;
    const m = key.exec(source);
    const keyStart = i;
    let j = m ? i + m[0].length : i;
    const valueStart = j;
    // The value runs to the next comma at this depth, or to the closing brace.
    while (j < close && source[j] !== ',') {
      const c = source[j]!;
      if (c === '{' || c === '(' || c === '[') j = matching(source, j) + 1;
      else j = skip(source, j);
    }
    if (m) props.push({ key: m[1]!, keyStart, valueStart, valueEnd: j });
    i = j + 1;
  }
  return props;
}

/** The whitespace at the start of the line holding `index`. */
function lineIndent(source: string, index: number): string {
  const start = source.lastIndexOf('\n', index - 1) + 1;
  return /^[ \t]*/.exec(source.slice(start))![0];
}

/**
 * Set `key` of the object literal whose braces are at `open`: replace the
 * value of an existing property (keeping the whitespace and comments around
 * it), or insert the property after the last one.
 */
function setProperty(
  out: string,
  open: number,
  key: string,
  value: (indent: string) => string,
): { out: string; replaced?: string } {
  const close = matching(out, open);
  const slot = properties(out, open, close).find((p) => p.key === key);
  if (slot) {
    const raw = out.slice(slot.valueStart, slot.valueEnd);
    const lead = /^\s*/.exec(raw)![0];
    const body = raw.slice(lead.length);
    const trail = /(\s*(?:\/\/[^\n]*|\/\*[\s\S]*?\*\/)?\s*)$/.exec(body)![0];
    const expression = body.slice(0, body.length - trail.length);
    const text = value(lineIndent(out, slot.keyStart));
    return {
      out: out.slice(0, slot.valueStart) + lead + text + trail + out.slice(slot.valueEnd),
      replaced: expression.trim(),
    };
  }
  const inner = out.slice(open + 1, close);
  if (inner.includes('\n')) {
    const indent = /\n([ \t]+)\S/.exec(inner)?.[1] ?? `${lineIndent(out, open)}  `;
    // Insert after the last non-blank content, making sure it ends with a comma.
    let end = close;
    while (end > open + 1 && /\s/.test(out[end - 1]!)) end--;
    const before = out.slice(open + 1, end);
    const needsComma =
      before.trim() !== '' && !/,\s*(\/\/[^\n]*)?$/.test(before) && !before.trimEnd().endsWith(',');
    const lastLine = before.slice(before.lastIndexOf('\n') + 1);
    const commentAtEnd = /\/\/[^\n]*$/.exec(lastLine);
    let head = out.slice(0, end);
    if (needsComma) {
      if (commentAtEnd) {
        const at = end - commentAtEnd[0].length;
        head = `${out.slice(0, at).replace(/\s*$/, '')}, ${out.slice(at, end)}`;
      } else head += ',';
    }
    return { out: `${head}\n${indent}${key}: ${value(indent)},${out.slice(end)}` };
  }
  const trimmed = inner.trim();
  const text = `${key}: ${value(lineIndent(out, open))}`;
  const body = trimmed === '' ? ` ${text} ` : ` ${trimmed.replace(/,$/, '')}, ${text} `;
  return { out: `${out.slice(0, open + 1)}${body}${out.slice(close)}` };
}

/** The index of the `{` a property's value starts with, or -1 when the value is not an object literal. */
function objectValue(out: string, open: number, key: string): number | undefined {
  const close = matching(out, open);
  const slot = properties(out, open, close).find((p) => p.key === key);
  if (!slot) return undefined;
  const at = slot.valueStart + /^\s*/.exec(out.slice(slot.valueStart))![0].length;
  return out[at] === '{' ? at : -1;
}

/**
 * Add the import and put `call` in the `kind` slot of `stack: { … }`, or of
 * `env: { <env>: { … } }` when `edit.env` is set (creating what is missing).
 */
export function addPluginToConfig(source: string, edit: PluginEdit): EditResult {
  let out = source;
  let replaced: string | undefined;
  const call = typeof edit.call === 'string' ? () => edit.call as string : edit.call;

  // 1. The slot (done first: the import insertion shifts offsets).
  if (edit.env !== undefined) {
    const envName = edit.env;
    const define = findInCode(out, /defineConfig\s*\(\s*\{/);
    if (!define) throw new Error('cairn.config.ts has no defineConfig({ … }) to add the plugin to');
    const root = define.index + define[0].length - 1;
    const envAt = objectValue(out, root, 'env');
    if (envAt === -1)
      throw new Error('cairn.config.ts: `env` is not an object literal; add the plugin by hand');
    if (envAt === undefined) {
      out = setProperty(out, root, 'env', (indent) => {
        const i2 = `${indent}  `;
        const i4 = `${indent}    `;
        return `{\n${i2}${envName}: {\n${i4}${edit.kind}: ${call(i4)},\n${i2}},\n${indent}}`;
      }).out;
    } else {
      const targetAt = objectValue(out, envAt, envName);
      if (targetAt === -1) {
        throw new Error(`cairn.config.ts: env.${envName} is not an object literal; add the plugin by hand`);
      }
      if (targetAt === undefined) {
        out = setProperty(out, envAt, envName, (indent) => {
          const i2 = `${indent}  `;
          return `{\n${i2}${edit.kind}: ${call(i2)},\n${indent}}`;
        }).out;
      } else {
        ({ out, replaced } = setProperty(out, targetAt, edit.kind, call));
      }
    }
  } else {
    const stack = findInCode(out, /stack\s*:\s*\{/);
    if (stack) {
      ({ out, replaced } = setProperty(out, stack.index + stack[0].length - 1, edit.kind, call));
    } else {
      const define = findInCode(out, /defineConfig\s*\(\s*\{/);
      if (!define) throw new Error('cairn.config.ts has no defineConfig({ … }) to add the plugin to');
      const at = define.index + define[0].length;
      const multiline = out[at] === '\n';
      const indent = multiline ? (/\n([ \t]+)\S/.exec(out.slice(at))?.[1] ?? '  ') : '';
      out = multiline
        ? `${out.slice(0, at)}\n${indent}stack: { ${edit.kind}: ${call(indent)} },${out.slice(at)}`
        : `${out.slice(0, at)} stack: { ${edit.kind}: ${call(indent)} },${out.slice(at)}`;
    }
  }

  // 2. The import, unless the package is imported already.
  const escaped = edit.packageName.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  const already = new RegExp(`^import\\s+${edit.importName}\\s+from\\s+['"]${escaped}['"]`, 'm').test(out);
  if (!already) {
    const importLine = `import ${edit.importName} from '${edit.packageName}';`;
    const imports = [
      ...out.matchAll(/^import\s(?:[^;'"]*?\sfrom\s*)?['"][^'"\n]+['"][ \t]*;?[ \t]*(?:\/\/[^\n]*)?$/gm),
    ];
    const last = imports[imports.length - 1];
    if (last) {
      const end = last.index + last[0].length;
      out = `${out.slice(0, end)}\n${importLine}${out.slice(end)}`;
    } else {
      out = `${importLine}\n${out}`;
    }
  }
  return { source: out, ...(replaced !== undefined ? { replaced } : {}) };
}
