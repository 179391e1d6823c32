import { Args, Flags } from '@oclif/core';
import { CairnCommand } from '../../lib/base';

export default class ArtifactsGet extends CairnCommand {
  static override summary =
    'Copy an artifact out of storage: a file, or a folder for tree artifacts (models, dirs)';
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
      const { unpackTree } = await import('@cairn/runtime/plugin-kit');
      await mkdir(dirname(out), { recursive: true });
      const partial = `${out}.partial-${process.pid}`;
      try {
        const file = await open(partial, 'w');
        try {
          for await (const chunk of await storage.get(digest)) await file.write(chunk);
        } finally {
          await file.close();
        }
        // A tree artifact is a tar ("ustar" at offset 257): unpack it into a folder.
        const head = Buffer.alloc(262);
        const reader = await open(partial, 'r');
        await reader.read(head, 0, 262, 0);
        await reader.close();
        if (flags.force) await rm(out, { recursive: true, force: true });
        if (head.subarray(257, 262).toString('latin1') === 'ustar') {
          const { createReadStream } = await import('node:fs');
          const staging = `${out}.unpack-${process.pid}`;
          await unpackTree(createReadStream(partial), staging);
          await rename(staging, out);
          this.log(`Wrote folder ${flags.out}`);
        } else {
          await rename(partial, out);
          this.log(`Wrote ${flags.out}`);
        }
      } finally {
        await rm(partial, { force: true });
      }
    });
  }
}
