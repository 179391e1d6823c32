import { Args, Flags } from '@oclif/core';
import { CairnCommand, jsonFlag } from '../lib/base';

export default class Lineage extends CairnCommand {
  static override summary =
    'Show where an artifact came from and what used it, or what a run consumed and produced';
  static override examples = [
    '<%= config.bin %> lineage 3fa9c2d1e0b7',
    '<%= config.bin %> lineage 3fa9c2d1e0b7 --direction up --depth 2',
    '<%= config.bin %> lineage r_0mfz3k2a1b2c3d4e5f --json',
  ];
  static override args = {
    target: Args.string({
      description: 'A run id (r_…) or an artifact digest (or a unique prefix)',
      required: true,
    }),
  };
  static override flags = {
    direction: Flags.string({
      char: 'd',
      description: 'Which way to follow lineage',
      options: ['up', 'down', 'both'],
      default: 'both',
    }),
    depth: Flags.integer({ description: 'Most execution hops to follow', min: 1 }),
    json: jsonFlag,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Lineage);
    const { withProject, resolveDigest } = await import('../lib/inspect');
    const { usageError } = await import('../lib/errors');
    const { graph, target } = await withProject({ project: flags.project }, async ({ metadata }) => {
      const options = {
        direction: flags.direction as 'both',
        ...(flags.depth ? { depth: flags.depth } : {}),
      };
      if (args.target.startsWith('r_')) {
        if (!(await metadata.getRun(args.target)))
          throw usageError(`No run "${args.target}"`, { code: 'CAIRN_METADATA_NOT_FOUND' });
        const target = { runId: args.target };
        return { target, graph: await metadata.lineage(target, options) };
      }
      const target = { digest: await resolveDigest(metadata, args.target) };
      return { target, graph: await metadata.lineage(target, options) };
    });
    if (flags.json) return this.printJson({ target, ...graph });
    const { renderLineage } = await import('../lib/lineage');
    this.log(renderLineage(graph, target));
  }
}
