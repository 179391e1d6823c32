/**
 * Project and package names: the npm naming rules (written here because
 * validate-npm-package-name needs Node 22) and the name forms templates use.
 */
import { builtinModules } from 'node:module';

const RESERVED = new Set(['node_modules', 'favicon.ico']);

/**
 * Problems with `name` as an npm package name for a new package; empty when
 * it is valid. Follows npm's rules for new packages: 1–214 characters,
 * lowercase, URL-safe, no leading "." or "_", not a Node built-in module.
 */
export function npmNameProblems(name: string): string[] {
  const problems: string[] = [];
  if (typeof name !== 'string' || name.length === 0) return ['name must not be empty'];
  if (name.length > 214) problems.push('name must be at most 214 characters');
  if (name.trim() !== name) problems.push('name must not start or end with spaces');
  if (/^[._]/.test(name)) problems.push('name must not start with "." or "_"');
  if (name !== name.toLowerCase()) problems.push('name must be lowercase');
  if (/[~'!()*]/.test(name)) problems.push("name must not contain any of ~'!()*");
  if (RESERVED.has(name.toLowerCase())) problems.push(`"${name}" is a reserved name`);
  if (builtinModules.includes(name)) problems.push(`"${name}" is a Node.js built-in module`);
  const scoped = /^@([^/]+)\/([^/]+)$/.exec(name);
  if (name.startsWith('@') && !scoped) problems.push('a scoped name must look like @scope/name');
  const parts = scoped ? [scoped[1]!, scoped[2]!] : [name];
  for (const part of parts) {
    if (encodeURIComponent(part) !== part)
      problems.push(`"${part}" contains characters that are not URL-safe`);
    if (scoped && /^[._]/.test(part)) problems.push(`"${part}" must not start with "." or "_"`);
  }
  return [...new Set(problems)];
}

/** The name written in different styles, from one source. */
export interface NameForms {
  /** The package name as given, scope included: `@acme/storage-gcs`. */
  package: string;
  /** `storage-gcs` */
  kebab: string;
  /** `storageGcs` */
  camel: string;
  /** `StorageGcs` */
  pascal: string;
  /** `Storage Gcs` */
  title: string;
}

export function nameForms(name: string): NameForms {
  const bare = name.replace(/^@[^/]+\//, '');
  const words = bare
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w.toLowerCase());
  const cap = (w: string) => w.charAt(0).toUpperCase() + w.slice(1);
  const pascal = words.map(cap).join('');
  const camel = pascal.charAt(0).toLowerCase() + pascal.slice(1);
  // An identifier cannot start with a digit.
  const safe = (s: string) => (/^[0-9]/.test(s) ? `_${s}` : s);
  return {
    package: name,
    kebab: words.join('-'),
    camel: safe(camel),
    pascal: safe(pascal),
    title: words.map(cap).join(' '),
  };
}
