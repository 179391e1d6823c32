import { Args, Flags } from '@oclif/core';
import { CairnCommand } from '../../lib/base';

export default class ArtifactsGet extends CairnCommand {
  static override summary =
    'Copy an artifact out of storage: a file, or a folder for tree artifacts (its recorded type is model, dir or report)';
  static override description =
    'The bytes are verified against the digest as they stream; a corrupt artifact is refused and nothing is left at --out.';
  static override examples = [
    '<%= config.bin %> artifacts get 3fa9c2d1e0b7 --out metrics.json',
    '<%= config.bin %> artifacts get 9b1e0c7a44d2 --out ./model',
  ];
  static override args = {
    digest: Args.string({ description: 'Digest or a unique prefix (6+ characters)', required: true }),
  };
  static override flags = {
    out: Flags.string({
      char: 'o',
      description: 'Where to write it (a file, or a folder for tree artifacts)',
      required: true,
    }),
    force: Flags.boolean({ description: 'Replace --out if it exists', default: false }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ArtifactsGet);
    const { existsSync } = await import('node:fs');
    const { mkdir, open, rename, rm } = await import('node:fs/promises');
    const { dirname, resolve } = await import('node:path');
    const { withProject, resolveDigest } = await import('../../lib/inspect');
    const { usageError } = await import('../../lib/errors');
    const out = resolve(flags.out);
    if (existsSync(out) && !flags.force)
      throw usageError(`${flags.out} exists`, { hint: 'Pass --force to replace it.' });
    await withProject({ project: flags.project }, async ({ metadata, storage }) => {
      const digest = await resolveDigest(metadata, args.digest);
      const { treeTypeNames } = await import('../../lib/artifact-forms');
      // The recorded type decides, not the bytes: a file() artifact may itself be a tarball.
      const record = await metadata.getArtifact(digest);
      const isTree = record !== undefined && (await treeTypeNames()).has(record.type);
      const { unpackTree } = await import('@cairn/runtime/plugin-kit');
      await mkdir(dirname(out), { recursive: true });
      const partial = `${out}.partial-${process.pid}`;
      const staging = `${out}.unpack-${process.pid}`;
      try {
        const file = await open(partial, 'w');
        try {
          for await (const chunk of await storage.get(digest)) await file.write(chunk);
        } finally {
          await file.close();
        }
        if (isTree) {
          const { createReadStream } = await import('node:fs');
          await unpackTree(createReadStream(partial), staging);
          if (flags.force) await rm(out, { recursive: true, force: true });
          await rename(staging, out);
          this.log(`Wrote folder ${flags.out}`);
        } else {
          if (flags.force) await rm(out, { recursive: true, force: true });
          await rename(partial, out);
          this.log(`Wrote ${flags.out}`);
        }
      } finally {
        // On any failure (a corrupt artifact, an entry the unpacker refuses) nothing is left beside --out.
        await Promise.all([rm(partial, { force: true }), rm(staging, { recursive: true, force: true })]);
      }
    });
  }
}
