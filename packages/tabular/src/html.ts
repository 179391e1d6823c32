/** Escape text for HTML and XML content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}
const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Data for a table in a report: rows of objects, or explicit columns and rows. */
export type ReportTable =
  | ReadonlyArray<Record<string, unknown>>
  | { columns: readonly string[]; rows: ReadonlyArray<ReadonlyArray<unknown>> };

/** One section of an {@link htmlReport}; its parts render in this order: markdown, html, svg, table. */
export interface ReportSection {
  heading: string;
  /** Markdown (headings, paragraphs, lists, pipe tables, code, bold, italics); its text is escaped. */
  markdown?: string;
  /** Trusted HTML inserted as it is. */
  html?: string;
  /** A chart from this package (or any trusted `<svg>` string). */
  svg?: string;
  table?: ReportTable;
}

/** Options of {@link htmlReport}. */
export interface HtmlReportOptions {
  title: string;
  /** A line under the title (a run id, a date). */
  subtitle?: string;
  sections: ReportSection[];
}

const CSS = `
:root{color-scheme:light}
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;background:#fff;max-width:960px;margin:2rem auto;padding:0 1rem}
h1{font-size:1.7rem;margin:0 0 .25rem}
.subtitle{color:#59636e;margin:0 0 1.5rem}
section{border-top:1px solid #d1d9e0;padding:1rem 0}
h2{font-size:1.3rem;margin:.25rem 0 .75rem}
h3,h4{margin:1rem 0 .5rem}
table{border-collapse:collapse;margin:.5rem 0;font-variant-numeric:tabular-nums}
th,td{border:1px solid #d1d9e0;padding:.25rem .6rem;text-align:left}
th{background:#f6f8fa}
td.num{text-align:right}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.9em;background:#f6f8fa;border-radius:4px}
code{padding:.1em .3em}
pre{padding:.75rem;overflow:auto}
figure{margin:.5rem 0}
svg{max-width:100%;height:auto}
`.trim();

/**
 * A self-contained HTML page (inline CSS, no scripts, no external files) for
 * the core `report` artifact type: `{ format: 'html', content: htmlReport(…) }`.
 *
 * @example
 * ```ts
 * htmlReport({
 *   title: 'Evaluation',
 *   sections: [
 *     { heading: 'Scores', table: [{ metric: 'accuracy', value: 0.97 }] },
 *     { heading: 'Confusion matrix', svg: confusionMatrixSvg(m.confusionMatrix, m.labels) },
 *   ],
 * });
 * ```
 */
export function htmlReport(options: HtmlReportOptions): string {
  const sections = options.sections.map((section) => {
    const parts = [`<h2>${escapeHtml(section.heading)}</h2>`];
    if (section.markdown !== undefined) parts.push(markdownToHtml(section.markdown));
    if (section.html !== undefined) parts.push(section.html);
    if (section.svg !== undefined) parts.push(`<figure>${section.svg}</figure>`);
    if (section.table !== undefined) parts.push(tableToHtml(section.table));
    return `<section>\n${parts.join('\n')}\n</section>`;
  });
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(options.title)}</title>`,
    `<style>${CSS}</style>`,
    '</head>',
    '<body>',
    `<h1>${escapeHtml(options.title)}</h1>`,
    options.subtitle !== undefined ? `<p class="subtitle">${escapeHtml(options.subtitle)}</p>` : '',
    ...sections,
    '</body>',
    '</html>',
    '',
  ]
    .filter((line) => line !== '')
    .join('\n');
}

/** An HTML `<table>` from rows of objects (columns from the first row's keys) or explicit columns and rows. */
export function tableToHtml(table: ReportTable): string {
  let columns: readonly string[];
  let rows: ReadonlyArray<ReadonlyArray<unknown>>;
  if (Array.isArray(table)) {
    const objects = table as ReadonlyArray<Record<string, unknown>>;
    columns = objects.length > 0 ? Object.keys(objects[0]!) : [];
    rows = objects.map((o) => columns.map((c) => o[c]));
  } else {
    ({ columns, rows } = table as {
      columns: readonly string[];
      rows: ReadonlyArray<ReadonlyArray<unknown>>;
    });
  }
  const head = `<tr>${columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('')}</tr>`;
  const body = rows
    .map(
      (row) =>
        `<tr>${row
          .map((v) =>
            typeof v === 'number' ? `<td class="num">${formatCell(v)}</td>` : `<td>${formatCell(v)}</td>`,
          )
          .join('')}</tr>`,
    )
    .join('\n');
  return `<table>\n<thead>${head}</thead>\n<tbody>\n${body}\n</tbody>\n</table>`;
}

function formatCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return escapeHtml(formatNumber(value));
  if (value instanceof Date) return escapeHtml(value.toISOString());
  if (typeof value === 'object') return escapeHtml(JSON.stringify(value));
  return escapeHtml(String(value));
}

/** A number for people: integers as they are, others to 4 significant digits. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value)) return String(value);
  const abs = Math.abs(value);
  if (abs >= 1e6 || abs < 1e-4) return value.toExponential(3);
  return String(Number(value.toPrecision(4)));
}

/**
 * A small Markdown renderer for reports: ATX headings, paragraphs, `-`/`*`
 * and numbered lists, pipe tables, fenced code, `inline code`, **bold**,
 * *italics*. All text is escaped; raw HTML in the Markdown is shown as text.
 */
export function markdownToHtml(markdown: string): string {
  const lines = markdown.replace(/\r\n?/g, '\n').split('\n');
  const out: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i]!;
    if (line.trim() === '') {
      i++;
      continue;
    }
    const fence = /^```/.exec(line);
    if (fence) {
      const code: string[] = [];
      i++;
      while (i < lines.length && !/^```/.test(lines[i]!)) code.push(lines[i++]!);
      i++;
      out.push(`<pre><code>${escapeHtml(code.join('\n'))}</code></pre>`);
      continue;
    }
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    if (heading) {
      // Markdown headings sit under the section's <h2>.
      const level = Math.min(6, heading[1]!.length + 2);
      out.push(`<h${level}>${inline(heading[2]!)}</h${level}>`);
      i++;
      continue;
    }
    if (/^\s*\|/.test(line) && i + 1 < lines.length && /^\s*\|?\s*:?-{2,}/.test(lines[i + 1]!)) {
      const cells = (l: string) =>
        l
          .trim()
          .replace(/^\|/, '')
          .replace(/\|$/, '')
          .split(/(?<!\\)\|/)
          .map((c) => c.trim().replace(/\\\|/g, '|'));
      const header = cells(line);
      i += 2;
      const body: string[][] = [];
      while (i < lines.length && /^\s*\|/.test(lines[i]!)) body.push(cells(lines[i++]!));
      out.push(
        `<table>\n<thead><tr>${header.map((c) => `<th>${inline(c)}</th>`).join('')}</tr></thead>\n<tbody>\n${body
          .map((r) => `<tr>${r.map((c) => `<td>${inline(c)}</td>`).join('')}</tr>`)
          .join('\n')}\n</tbody>\n</table>`,
      );
      continue;
    }
    const bullet = /^\s*([-*]|\d+\.)\s+/;
    if (bullet.test(line)) {
      const ordered = /^\s*\d+\./.test(line);
      const items: string[] = [];
      while (i < lines.length && bullet.test(lines[i]!)) items.push(lines[i++]!.replace(bullet, ''));
      const tag = ordered ? 'ol' : 'ul';
      out.push(`<${tag}>${items.map((item) => `<li>${inline(item)}</li>`).join('')}</${tag}>`);
      continue;
    }
    const paragraph: string[] = [];
    while (
      i < lines.length &&
      lines[i]!.trim() !== '' &&
      !/^(#{1,6}\s|```|\s*\||\s*([-*]|\d+\.)\s)/.test(lines[i]!)
    ) {
      paragraph.push(lines[i++]!.trim());
    }
    if (paragraph.length === 0) {
      // A line no block rule consumed (e.g. "|" alone): keep it as text.
      paragraph.push(lines[i++]!.trim());
    }
    out.push(`<p>${inline(paragraph.join(' '))}</p>`);
  }
  return out.join('\n');
}

function inline(text: string): string {
  // Split out code spans first so their contents are not formatted.
  return text
    .split(/(`[^`]+`)/)
    .map((part) => {
      if (/^`[^`]+`$/.test(part)) return `<code>${escapeHtml(part.slice(1, -1))}</code>`;
      return escapeHtml(part)
        .replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>')
        .replace(/(^|[^*\w])\*([^*\s][^*]*)\*(?!\w)/g, '$1<em>$2</em>');
    })
    .join('');
}
