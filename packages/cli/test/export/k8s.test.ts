import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Rollout } from '@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { Service } from 'kubernetes-models/v1';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { renderK8s } from '../../src/lib/export/k8s';
import { cairn } from '../helpers';
import { fixtureProject } from './project';

let dir: string;
const ENV = { INGEST_TOKEN: 'local-token' };
const run = async (args: string[]) => {
  const result = await cairn(args, dir, ENV);
  expect(result.code, `${args.join(' ')}\n${result.stderr}${result.stdout}`).toBe(0);
  return result;
};
const documents = (text: string) => parseAllDocuments(text).map((d) => d.toJS());
const flat = (text: string) => text.replace(/\s+›?\s*/g, ' ');

beforeAll(async () => {
  dir = await fixtureProject('export-k8s');
  // Two registered versions of the "constant" model, v1 deployed on the local deployer.
  await run(['run']);
  await run(['run', '--set', 'train_model.value=2']);
  await run(['deploy', 'constant', '1']);
});

const serverOf = (podSpec: any) => podSpec.containers.find((c: any) => c.name === 'server');
const envValue = (container: any, name: string) => container.env.find((e: any) => e.name === name)?.value;

describe('cairn export k8s', () => {
  it('renders one primary version as a Deployment and a Service that validate', async () => {
    const result = await cairn(['export', 'k8s', 'constant', '--image', 'shop:1', '--replicas', '3'], dir, {
      DATABASE_URL: 'postgres://app:value-never-written@db/cairn',
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).not.toContain('never-written');
    const [deployment, service, ...rest] = documents(result.stdout);
    expect(rest).toEqual([]);
    expect(() => new Deployment(deployment).validate()).not.toThrow();
    expect(() => new Service(service).validate()).not.toThrow();
    expect(deployment.spec.replicas).toBe(3);
    const server = serverOf(deployment.spec.template.spec);
    expect(server.image).toBe('shop:1');
    expect(envValue(server, 'CAIRN_MODEL')).toBe('constant');
    expect(envValue(server, 'CAIRN_VERSION')).toBe('1');
    expect(envValue(server, 'CAIRN_ENV')).toBe('team');
    expect(server.args[0]).toMatch(
      /cairn deploy .* && exec cairn serve --env "\$CAIRN_ENV" --port "\$CAIRN_PORT"/,
    );
    // The team stack's variables, by reference to the Secret.
    const secrets = server.env.filter((e: any) => e.valueFrom).map((e: any) => e.valueFrom.secretKeyRef);
    expect(secrets).toEqual(
      ['ARTIFACT_BUCKET', 'DATABASE_URL', 'S3_ENDPOINT'].map((key) => ({ name: 'cairn', key })),
    );
    expect(service.spec.selector).toEqual(deployment.spec.selector.matchLabels);
    expect(service.spec.ports[0].targetPort).toBe(server.ports[0].name);
    // The team env's deployer listens on 0.0.0.0: no warning.
    expect(result.stderr).not.toMatch(/Warning/);
  });

  it('renders a canary as an Argo Rollout with the local deployer weight, the template serving the canary version', async () => {
    await run(['deploy', 'constant', '2', '--strategy', 'canary', '--percent', '30']);
    const shown = JSON.parse((await run(['endpoints', 'show', 'constant', '--json'])).stdout);
    const canary = shown.routes.find((r: any) => r.role === 'canary');
    const primary = shown.routes.find((r: any) => r.role === 'primary');

    const result = await cairn(['export', 'k8s', 'constant', '--image', 'shop:1', '--replicas', '10'], dir);
    expect(result.code, result.stderr).toBe(0);
    const docs = documents(result.stdout);
    const rollout = docs.find((d) => d.kind === 'Rollout');
    expect(() => new Rollout(rollout).validate()).not.toThrow();
    for (const service of docs.filter((d) => d.kind === 'Service')) {
      expect(() => new Service(service).validate()).not.toThrow();
    }
    expect(docs.filter((d) => d.kind === 'Service').map((d) => d.metadata.name)).toEqual([
      'constant',
      'constant-stable',
      'constant-canary',
    ]);
    expect(docs.some((d) => d.kind === 'Deployment')).toBe(false);
    expect(rollout.spec.strategy.canary.steps).toEqual([{ setWeight: canary.weight }, { pause: {} }]);
    expect(canary.weight).toBe(30);
    expect(rollout.spec.strategy.canary).toMatchObject({
      canaryService: 'constant-canary',
      stableService: 'constant-stable',
    });
    expect(rollout.spec.strategy.canary.trafficRouting).toBeUndefined();
    const server = serverOf(rollout.spec.template.spec);
    expect(envValue(server, 'CAIRN_VERSION')).toBe(String(canary.model.version));
    expect(rollout.metadata.annotations['cairn.dev/stable-version']).toBe(
      `constant@${primary.model.version}`,
    );
    // 30 % of 10 pods is 3 pods: nothing to warn about.
    expect(result.stderr).not.toMatch(/Warning/);
  });

  it('warns when the weight is not a whole number of pods, and --nginx-ingress splits requests instead', async () => {
    const approximate = await cairn(['export', 'k8s', 'constant', '--image', 'shop:1'], dir);
    expect(approximate.code).toBe(0);
    expect(flat(approximate.stderr)).toMatch(/30% of 2 replicas is 1 canary pod\(s\) \(50%\)/);
    const routed = await cairn(
      ['export', 'k8s', 'constant', '--image', 'shop:1', '--nginx-ingress', 'constant'],
      dir,
    );
    expect(routed.code, routed.stderr).toBe(0);
    expect(routed.stderr).not.toMatch(/Warning/);
    const rollout = documents(routed.stdout).find((d) => d.kind === 'Rollout');
    expect(() => new Rollout(rollout).validate()).not.toThrow();
    expect(rollout.spec.strategy.canary.trafficRouting).toEqual({ nginx: { stableIngress: 'constant' } });
  });

  it('warns when the pods would listen on loopback only (--pod-env local)', async () => {
    const result = await cairn(
      ['export', 'k8s', 'constant', '--image', 'shop:1', '--replicas', '10', '--pod-env', 'local'],
      dir,
    );
    expect(result.code, result.stderr).toBe(0);
    expect(flat(result.stderr)).toMatch(/listens on 127\.0\.0\.1.*0\.0\.0\.0/);
  });

  it('refuses bad input with a coded error (exit 2) and writes nothing', async () => {
    const out = join(dir, 'refused.yaml');
    for (const [args, message] of [
      [
        ['export', 'k8s', 'nope', '--image', 'shop:1'],
        /No endpoint "nope" is deployed[\s\S]*CAIRN_DEPLOYMENT_NOT_FOUND/,
      ],
      [['export', 'k8s', 'constant', '--image', 'shop:1', '--pod-env', 'prod'], /Unknown environment "prod"/],
      [['export', 'k8s', 'constant', '--image', 'shop:1', '--namespace', 'ML_Team'], /--namespace "ML_Team"/],
      [['export', 'k8s', 'constant', '--image', 'shop:1', '--replicas', '0'], /replicas/],
      [['export', 'k8s', 'constant'], /Missing required flag[\s\S]*image/],
    ] as Array<[string[], RegExp]>) {
      const result = await cairn([...args, '--out', out], dir);
      expect(result.code, `${args.join(' ')}\n${result.stderr}`).toBe(2);
      expect(flat(result.stderr)).toMatch(message);
      expect(existsSync(out)).toBe(false);
    }
  });

  it('--help shows examples', async () => {
    const help = await cairn(['export', 'k8s', '--help'], dir);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/EXAMPLES[\s\S]*cairn export k8s penguins --image/);
  });

  it('keeps the names of a long endpoint within 63 characters, -stable and -canary included', () => {
    const long = `churn-prediction-for-the-enterprise-customers-of-the-${'emea-'.repeat(3)}region`;
    const names = (endpoint: string) => {
      const { documents: docs } = renderK8s(
        {
          endpoint,
          revision: 2,
          updatedAt: '2026-01-01T00:00:00.000Z',
          change: 'traffic',
          routes: [
            {
              role: 'primary',
              weight: 80,
              model: { model: long, version: 1, digest: 'a'.repeat(64) } as any,
            },
            { role: 'canary', weight: 20, model: { model: long, version: 2, digest: 'b'.repeat(64) } as any },
          ],
        },
        {
          image: 'shop:1',
          podEnv: 'team',
          envVars: [],
          secret: 'cairn',
          replicas: 5,
          port: 8080,
          rollout: true,
        },
      );
      const rollout = docs.find((d: any) => d.kind === 'Rollout') as any;
      expect(() => new Rollout(rollout).validate()).not.toThrow();
      const services = docs.filter((d: any) => d.kind === 'Service') as any[];
      for (const service of services) expect(() => new Service(service).validate()).not.toThrow();
      const all = [rollout, ...services].map((d) => d.metadata.name as string);
      for (const name of all) {
        expect(name).toMatch(/^[a-z]([-a-z0-9]*[a-z0-9])?$/);
        expect(name.length).toBeLessThanOrEqual(63);
      }
      const labels = [rollout.metadata.labels, rollout.spec.template.metadata.labels];
      for (const value of labels.flatMap((l) => Object.values(l) as string[])) {
        expect(value.length).toBeLessThanOrEqual(63);
      }
      expect(rollout.spec.strategy.canary.stableService).toBe(`${all[0]}-stable`);
      return all;
    };
    expect(long.length).toBeGreaterThan(63);
    // Two endpoints alike in their first 63 characters still get distinct names.
    expect(names(long)[0]).not.toBe(names(`${long}-2`)[0]);
  });
});
