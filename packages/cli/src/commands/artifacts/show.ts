import { Args } from '@oclif/core';
import { CairnCommand, jsonFlag } from '../../lib/base';

export default class ArtifactsShow extends CairnCommand {
  static override summary =
    'Show one artifact: type, size, producer, description, and whether its bytes verify';
  static override examples = [
    '<%= config.bin %> artifacts show 3fa9c2d1e0b7',
    '<%= config.bin %> artifacts show 3fa9c2d1e0b7 --json',
  ];
  static override args = {
    digest: Args.string({ description: 'Digest or a unique prefix (6+ characters)', required: true }),
  };
  static override flags = { json: jsonFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ArtifactsShow);
    const { withProject, resolveDigest, describeProducer } = await import('../../lib/inspect');
    const { usageError } = await import('../../lib/errors');
    const result = await withProject({ project: flags.project }, async ({ metadata, storage }) => {
      const digest = await resolveDigest(metadata, args.digest);
      const record = await metadata.getArtifact(digest);
      if (!record) throw usageError(`No artifact ${digest}`, { code: 'CAIRN_ARTIFACT_NOT_FOUND' });
      return { ...record, storage: await storage.verify(digest) };
    });
    if (flags.json) return this.printJson(result);
    const { formatBytes } = await import('../../lib/format');
    this.log(`Artifact ${result.digest}`);
    this.log(`  type      ${result.type}`);
    this.log(`  size      ${formatBytes(result.size)}`);
    this.log(`  producer  ${describeProducer(result)}`);
    this.log(`  created   ${result.createdAt}`);
    this.log(`  storage   ${result.storage}`);
    if (result.metadata && Object.keys(result.metadata).length > 0)
      this.log(`  metadata  ${JSON.stringify(result.metadata)}`);
  }
}
