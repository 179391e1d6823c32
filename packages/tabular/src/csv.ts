import { CairnError, ErrorCodes } from '@cairn/core';

/** One parsed CSV field: its text, and whether it was quoted (a quoted `""` is an empty string, not a missing value). */
export interface CsvField {
  text: string;
  quoted: boolean;
}

/** Options of {@link parseCsv}. */
export interface CsvParseOptions {
  /** Field separator, one character. @default ',' */
  delimiter?: string;
  /** Name used in error messages (a file path). @default 'CSV' */
  source?: string;
}

/**
 * Parse CSV text (RFC 4180) into records of fields: quoted fields may hold
 * delimiters, line breaks and doubled quotes (`""`); records end with LF, CRLF
 * or CR; a leading byte-order mark and a final line break are ignored.
 * Malformed input (a quote inside an unquoted field, text after a closing
 * quote, an unterminated quote) is refused with the line number.
 */
export function parseCsv(text: string, options: CsvParseOptions = {}): CsvField[][] {
  const delimiter = options.delimiter ?? ',';
  const source = options.source ?? 'CSV';
  if (delimiter.length !== 1 || delimiter === '"' || delimiter === '\n' || delimiter === '\r') {
    throw new CairnError(
      ErrorCodes.PLUGIN_OPTIONS_INVALID,
      `option "delimiter" must be one character other than a quote or a line break, got ${JSON.stringify(delimiter)}`,
    );
  }
  const d = delimiter.charCodeAt(0);
  const QUOTE = 34;
  const LF = 10;
  const CR = 13;
  const records: CsvField[][] = [];
  let record: CsvField[] = [];
  let line = 1;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  const n = text.length;
  const fail = (message: string): never => {
    throw new CairnError(ErrorCodes.ARTIFACT_TYPE_MISMATCH, `${source}, line ${line}: ${message}`);
  };
  if (i >= n) return records;
  for (;;) {
    // At the start of a field.
    let field: CsvField;
    if (text.charCodeAt(i) === QUOTE) {
      const startLine = line;
      let value = '';
      let chunk = ++i;
      for (;;) {
        if (i >= n) {
          line = startLine;
          fail('a quoted field is never closed');
        }
        const c = text.charCodeAt(i);
        if (c === QUOTE) {
          if (text.charCodeAt(i + 1) === QUOTE) {
            value += text.slice(chunk, i + 1);
            i += 2;
            chunk = i;
            continue;
          }
          value += text.slice(chunk, i);
          i++;
          break;
        }
        if (c === LF || (c === CR && text.charCodeAt(i + 1) !== LF)) line++;
        i++;
      }
      field = { text: value, quoted: true };
      const next = text.charCodeAt(i);
      if (i < n && next !== d && next !== LF && next !== CR) fail('text after a closing quote');
    } else {
      const start = i;
      while (i < n) {
        const c = text.charCodeAt(i);
        if (c === d || c === LF || c === CR) break;
        if (c === QUOTE)
          fail('a quote inside an unquoted field (quote the whole field and double the quote)');
        i++;
      }
      field = { text: text.slice(start, i), quoted: false };
    }
    record.push(field);
    if (i >= n) {
      records.push(record);
      return records;
    }
    const c = text.charCodeAt(i);
    if (c === d) {
      i++;
      continue;
    }
    // A line break ends the record; CRLF counts as one.
    i += c === CR && text.charCodeAt(i + 1) === LF ? 2 : 1;
    line++;
    records.push(record);
    record = [];
    if (i >= n) return records;
  }
}
