import { Flags } from '@oclif/core';
import { CairnCommand, envFlag } from '../lib/base';

export default class Serve extends CairnCommand {
  static override summary = "Serve the project's deployed endpoints until Ctrl-C";
  static override description =
    "Starts the stack's deployer in serve mode: it restores every endpoint from <stateDir>/deploy, loads its model versions through serving.loaders of cairn.config.ts, and answers predictions. Changes made meanwhile by `cairn deploy`, `cairn endpoints …` or a pipeline's deploy step are followed and printed. deploy-local serves Prometheus metrics at /metrics and, with its predictionLog option, logs sampled predictions to the project's storage. SIGINT or SIGTERM stops the server cleanly (exit 0), after writing out the predictions still in memory.";
  static override examples = [
    '<%= config.bin %> serve',
    '<%= config.bin %> serve --port 9000',
    '<%= config.bin %> serve --env prod',
    `curl -s -X POST http://127.0.0.1:8080/v1/endpoints/penguins/predict -H 'content-type: application/json' -d '{"rows":[{"bill_length_mm":39.1}],"unitId":"user-42"}'`,
  ];
  static override flags = {
    env: envFlag,
    port: Flags.integer({
      description:
        'Port to serve on, for deployers with a port option (deploy-local); others take it from cairn.config.ts',
      min: 0,
      max: 65535,
    }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Serve);
    const { openProjectFor } = await import('../lib/project');
    const delivery = await import('../lib/delivery');
    const stack = await openProjectFor(flags);
    let deployer: import('@cairn/core').Deployer | undefined;
    let experiments: import('@cairn/core').AbTestEngine | undefined;
    let poll: NodeJS.Timeout | undefined;
    let stop: (() => void) | undefined;
    try {
      let descriptor = delivery.requireDeployer(stack);
      if (flags.port !== undefined) descriptor = await delivery.withPort(descriptor, flags.port);
      // With an A/B engine in the stack, canaries are judged by their units' exposures and outcomes.
      if (stack.abtest) experiments = await delivery.openAbTest({ ...stack, abtest: stack.abtest });
      deployer = await delivery.openDeployer(stack, 'serve', descriptor, experiments);
      // A load test's staging endpoint is not served here: it is answered on a loopback port of its own.
      const deployments = (await deployer.list()).filter((d) => !d.staging);
      if (deployments.length === 0) {
        this.log('No endpoints deployed yet: deploy one with `cairn deploy <model>` (this server follows).');
      } else {
        this.log(delivery.deploymentsTable(deployments));
      }
      const base = baseUrl(deployments, descriptor.options);
      const { metrics } = (descriptor.options ?? {}) as { metrics?: unknown };
      if (base && descriptor.name === 'local' && metrics !== false) this.log(`Metrics at ${base}/metrics`);
      this.log(
        base
          ? `Serving on ${base}  (Ctrl-C to stop)`
          : `Serving with the ${descriptor.name} deployer  (Ctrl-C to stop)`,
      );

      const stopped = new Promise<string>((resolve) => {
        const onSignal = (signal: string) => resolve(signal);
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        stop = () => {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        };
      });
      // Print what other processes change, so the terminal shows what is being served.
      const seen = new Map(deployments.map((d) => [d.endpoint, d.revision]));
      const live = deployer;
      let polling = false;
      poll = setInterval(() => {
        if (polling) return;
        polling = true;
        live
          .list()
          .then((listed) => {
            const now = listed.filter((d) => !d.staging);
            for (const d of now) {
              if (seen.get(d.endpoint) !== d.revision) this.log(delivery.describeChange(d));
              seen.set(d.endpoint, d.revision);
            }
            for (const name of [...seen.keys()]) {
              if (!now.some((d) => d.endpoint === name)) {
                this.log(`${name} removed`);
                seen.delete(name);
              }
            }
          })
          .catch(() => {})
          .finally(() => {
            polling = false;
          });
      }, 1000);
      const signal = await stopped;
      this.log(`${signal}: stopping`);
    } finally {
      stop?.();
      if (poll) clearInterval(poll);
      try {
        // Rows of the prediction log that storage refused are reported here (CAIRN_STORAGE_FAILED,
        // a non-zero exit), after the server answered what was in flight.
        await deployer?.close();
      } finally {
        try {
          await experiments?.close();
        } finally {
          await stack.close();
        }
      }
    }
  }
}

/** The server's base URL: from an endpoint's URL, else from the deployer's host/port options. */
function baseUrl(deployments: ReadonlyArray<{ url?: string }>, options: unknown): string | undefined {
  const url = deployments.find((d) => d.url)?.url;
  if (url) return url.replace(/\/v1\/endpoints\/[^/]+$/, '');
  const { host = '127.0.0.1', port } = (options ?? {}) as { host?: string; port?: number };
  return typeof port === 'number' && port > 0 ? `http://${host}:${port}` : undefined;
}
