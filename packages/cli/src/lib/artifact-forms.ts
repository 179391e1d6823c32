/**
 * Names of the artifact types stored as a tar of a folder (`form: 'tree'`),
 * read from the core's own type definitions so that the list cannot drift
 * from them. Artifacts of other types are single files.
 */
export async function treeTypeNames(): Promise<Set<string>> {
  const { dir, model, report } = await import('@cairn/core');
  return new Set([dir(), model(), report()].filter((type) => type.form === 'tree').map((type) => type.name));
}
