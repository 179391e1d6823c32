import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cairn } from './helpers';

const penguins = resolve(
  fileURLToPath(new URL('.', import.meta.url)),
  '..',
  '..',
  '..',
  'examples',
  'penguins',
);

describe('cairn doctor on examples/penguins', () => {
  it("judges the example's own files, and the monorepo's CI for the example, honestly", async () => {
    const result = await cairn(['doctor', '--json', '--project', penguins], penguins);
    expect(result.code, result.stderr).toBe(0);
    const byId = Object.fromEntries(JSON.parse(result.stdout).practices.map((p: any) => [p.id, p]));
    for (const id of ['pipeline', 'config', 'artifacts', 'data-validation', 'evaluation', 'gate']) {
      expect(byId[id].ok, `${id}: ${byId[id].detail}`).toBe(true);
    }
    expect(byId.gate.detail).toMatch(/step gate/);
    // The example has no workflow of its own: the monorepo's CI runs its tests (which run the
    // pipeline), but nothing there fails a job on the gate's decision.
    expect(byId.ci.ok).toBe(false);
    expect(byId.ci.detail).toMatch(/tests ✓, pipeline ✓ \(in the tests\), evaluation gate ✗/);
    expect(byId.ci.detail).toMatch(/the workspace's CI: \.ci\/run/);
    expect(byId.pinned).toMatchObject({ ok: true });
    for (const id of ['deployment', 'abtest', 'drift']) expect(byId[id].ok).toBe(false);
    expect(byId.registry.fix).toContain('registerModelStep()');
  });
});
