// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${env:NAME} is the config syntax, not a mistyped template.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { addPluginToConfig } from './config-edit';
import { pluginCall, readManifest } from './plugins';

const manifestOf = (short: string, pkg: string) =>
  readManifest(
    pkg,
    JSON.parse(
      readFileSync(
        fileURLToPath(new URL(`../../../../plugins/${short}/package.json`, import.meta.url)),
        'utf8',
      ),
    ).cairn,
  );

const CONFIG = `// Team stack. Keep the comments!
import { defineConfig } from '@cairn/core';
import { inProcess, localStore } from '@cairn/runtime';
import sqliteMetadata from '@cairn/metadata-sqlite'; // the embedded default

export default defineConfig({
  stack: {
    // where artifacts live: "storage: nope" in a comment must not be edited
    storage: localStore({ dir: '.cairn/artifacts' }), // local for now
    metadata: sqliteMetadata({ file: '.cairn/metadata.db' }),
  },
  env: {
    ci: { executor: inProcess() }, // storage: untouched
  },
});
`;

const s3 = {
  kind: 'storage',
  packageName: '@cairn/storage-s3',
  importName: 's3Storage',
  call: 's3Storage()',
} as const;

describe('addPluginToConfig', () => {
  it('replaces the slot and adds one import, keeping every comment and line', () => {
    const { source, replaced } = addPluginToConfig(CONFIG, s3);
    expect(replaced).toBe("localStore({ dir: '.cairn/artifacts' })");
    expect(source).toBe(
      CONFIG.replace(
        "import sqliteMetadata from '@cairn/metadata-sqlite'; // the embedded default",
        "import sqliteMetadata from '@cairn/metadata-sqlite'; // the embedded default\nimport s3Storage from '@cairn/storage-s3';",
      ).replace(
        "storage: localStore({ dir: '.cairn/artifacts' }), // local for now",
        'storage: s3Storage(), // local for now',
      ),
    );
  });

  it('inserts a missing slot at the indentation of its siblings', () => {
    const { source } = addPluginToConfig(CONFIG, {
      kind: 'executor',
      packageName: '@acme/executor-k8s',
      importName: 'k8sExecutor',
      call: 'k8sExecutor()',
    });
    expect(source).toContain(
      "    metadata: sqliteMetadata({ file: '.cairn/metadata.db' }),\n    executor: k8sExecutor(),\n  },",
    );
    expect(source).toContain('ci: { executor: inProcess() }, // storage: untouched');
  });

  it('adds a comma after a last property that has none, even before a comment', () => {
    const input =
      "import { defineConfig } from '@cairn/core';\nexport default defineConfig({\n  stack: {\n    metadata: m() // mine\n  },\n});\n";
    const { source } = addPluginToConfig(input, s3);
    expect(source).toContain('    metadata: m(), // mine\n    storage: s3Storage(),\n  },');
  });

  it('handles single-line stacks and configs without a stack', () => {
    expect(
      addPluginToConfig("import x from 'y';\nexport default defineConfig({ stack: { metadata: m() } });", s3)
        .source,
    ).toContain('stack: { metadata: m(), storage: s3Storage() }');
    const none = addPluginToConfig(
      "import { defineConfig } from '@cairn/core';\n\nexport default defineConfig({\n  conf: 'conf',\n});\n",
      s3,
    ).source;
    expect(none).toContain("defineConfig({\n  stack: { storage: s3Storage() },\n  conf: 'conf',");
    expect(none).toContain(
      "import { defineConfig } from '@cairn/core';\nimport s3Storage from '@cairn/storage-s3';",
    );
  });

  it('does not import twice', () => {
    const once = addPluginToConfig(CONFIG, s3).source;
    const twice = addPluginToConfig(once, s3).source;
    expect(twice).toBe(once);
  });

  describe('into an environment', () => {
    const team = (kind: 'storage' | 'metadata', short: string, importName: string, packageName: string) => ({
      kind,
      packageName,
      importName,
      // Wired from the plugin's own "cairn" field, as `cairn add` does.
      call: (indent: string) => pluginCall(manifestOf(short, packageName), indent),
      env: 'team',
    });
    const s3Team = team('storage', 'storage-s3', 's3Storage', '@cairn/storage-s3');
    const pgTeam = team('metadata', 'metadata-postgres', 'postgresMetadata', '@cairn/metadata-postgres');

    it('adds env.team next to env.ci with the env-referencing options, leaving the stack alone', () => {
      const { source, replaced } = addPluginToConfig(CONFIG, s3Team);
      expect(replaced).toBeUndefined();
      expect(source).toContain("storage: localStore({ dir: '.cairn/artifacts' }), // local for now");
      expect(source).toContain(
        [
          '    ci: { executor: inProcess() }, // storage: untouched',
          '    team: {',
          '      storage: s3Storage({',
          "        bucket: '${env:ARTIFACT_BUCKET}',",
        ].join('\n'),
      );
      expect(source).toContain(
        "          secretAccessKey: '${env:AWS_SECRET_ACCESS_KEY}',\n        },\n      }),\n    },\n  },\n});",
      );
      // A second plugin joins the same env object.
      const both = addPluginToConfig(source, pgTeam).source;
      expect(both).toContain(
        "      }),\n      metadata: postgresMetadata({ url: '${env:DATABASE_URL}' }),\n    },",
      );
      expect(both.match(/team: \{/g)).toHaveLength(1);
      expect(both).toContain("import postgresMetadata from '@cairn/metadata-postgres';");
    });

    it('creates env when the config has none, and replaces a slot that is already there', () => {
      const input =
        "import { defineConfig } from '@cairn/core';\n\nexport default defineConfig({\n  stack: {},\n});\n";
      const first = addPluginToConfig(input, pgTeam).source;
      expect(first).toContain(
        "  stack: {},\n  env: {\n    team: {\n      metadata: postgresMetadata({ url: '${env:DATABASE_URL}' }),\n    },\n  },\n});",
      );
      const again = addPluginToConfig(first, { ...pgTeam, call: 'postgresMetadata(process.env.PG!)' });
      expect(again.replaced).toBe("postgresMetadata({ url: '${env:DATABASE_URL}' })");
      expect(again.source).toContain('metadata: postgresMetadata(process.env.PG!),');
    });
  });
});
