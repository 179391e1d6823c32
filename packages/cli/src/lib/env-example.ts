// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${env:NAME} is the config syntax, not a mistyped template.
/** `.env.example`: the environment variables a project's `${env:…}` references read. */
import type { PluginEnvVar } from './plugins';

const HEADER = [
  '# The environment variables cairn.config.ts reads as ${env:NAME}. Copy this file to .env',
  '# (git-ignored) or set them in CI; their values are never stored in run metadata.',
].join('\n');

/** `previous` with the variables it does not list yet appended (a header when it was empty). */
export function mergeEnvExample(previous: string, vars: readonly PluginEnvVar[]): string {
  const listed = new Set(
    previous
      .split('\n')
      .map((line) => /^\s*#?\s*([A-Za-z_][A-Za-z0-9_]*)=/.exec(line)?.[1])
      .filter(Boolean),
  );
  const missing = vars.filter((v) => !listed.has(v.name));
  if (missing.length === 0) return previous;
  const blocks = missing.map((v) => `# ${v.doc}\n${v.name}=${v.example}\n`);
  const base = previous.trim() === '' ? `${HEADER}\n` : previous.endsWith('\n') ? previous : `${previous}\n`;
  return `${base}\n${blocks.join('\n')}`;
}
