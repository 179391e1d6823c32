// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${env:NAME} is the config syntax, not a mistyped template.
/**
 * A config key written as `${env:NAME}` has its value only where the step
 * runs: the exports do not judge it by its placeholder text, and judge every
 * other key as `cairn run` does.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { cairn } from '../helpers';
import { fixtureProject } from './project';

const PIPELINE = `
import { json, pipeline, step } from '@cairn/core';
import { z } from 'zod';

const fetch = step({
  name: 'fetch',
  config: z.object({ endpoint: z.string().url(), rows: z.coerce.number().int().positive() }),
  outputs: { n: json<number>() },
  run: ({ config }) => ({ n: config.rows }),
});

export default pipeline('service', () => {
  fetch();
});
`;

let dir: string;
const conf = () => join(dir, 'conf', 'base', 'fetch.yaml');
const exportService = () => cairn(['export', 'github-actions', 'service', '--env', 'local'], dir);

beforeAll(async () => {
  dir = await fixtureProject('export-env-config');
  await mkdir(join(dir, 'pipelines'), { recursive: true });
  await writeFile(join(dir, 'pipelines', 'service.ts'), PIPELINE);
});

describe('exports and ${env:} config values', () => {
  it('accepts a URL and a coerced number given by ${env:} references, and still refuses a typo or a wrong value', async () => {
    await writeFile(conf(), 'endpoint: ${env:SVC_URL}\nrows: ${env:ROWS}\n');
    const result = await exportService();
    expect(result.code, result.stderr).toBe(0);
    const exec = parse(result.stdout).jobs.fetch.steps.at(-1);
    expect(exec.env).toMatchObject({ ROWS: '${{ secrets.ROWS }}', SVC_URL: '${{ secrets.SVC_URL }}' });

    // Every other key is still judged: a typo, a wrong literal value (CAIRN_CONFIG_INVALID, exit 2).
    const cases: Array<[string, RegExp]> = [
      ['endpoint: ${env:SVC_URL}\nrowz: ${env:ROWS}\n', /rowz/],
      ['endpoint: not a url\nrows: ${env:ROWS}\n', /endpoint/],
      ['endpoint: ${env:SVC_URL}\nrows: many\n', /rows/],
    ];
    for (const [text, key] of cases) {
      await writeFile(conf(), text);
      const result = await exportService();
      expect(result.code, `${text}\n${result.stderr}`).toBe(2);
      expect(result.stderr).toMatch(/CAIRN_CONFIG_INVALID/);
      expect(result.stderr).toMatch(key);
    }
  });
});
