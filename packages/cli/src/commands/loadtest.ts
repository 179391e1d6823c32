import { Args, Flags } from '@oclif/core';
import { CairnCommand, envFlag, jsonFlag } from '../lib/base';

export default class LoadTest extends CairnCommand {
  static override summary = 'Load-test a model version on a staging endpoint before it takes traffic';
  static override description =
    "Deploys the version (default: the endpoint's current primary) behind the staging endpoint <endpoint>-loadtest, never the endpoint itself, serves it from this process on a private loopback port, replays rows at it with autocannon for --duration seconds over --connections connections (at --rate requests/s in all, or as fast as it answers), prints p50/p95/p99 latency, throughput and error rate, then removes the staging endpoint. Rows come from a CSV or JSON file (--rows) or a table artifact (--artifact). With thresholds (--p99-ms, --min-rps, --max-error-rate) a version that breaks one exits 1 with CAIRN_LOADTEST_FAILED and the numbers. Ctrl-C or SIGTERM stops the test and removes the staging endpoint (CAIRN_RUN_CANCELLED). A staging endpoint another running load test holds is refused, one a stopped test left behind is removed first, and an endpoint of that name that no load test made is never replaced. The same action as the pipelines' loadTestStep() from @cairn/delivery.";
  static override examples = [
    '<%= config.bin %> loadtest penguins --rows data/penguins.csv --drop species',
    '<%= config.bin %> loadtest penguins --version 4 --artifact 3f9a1c --drop species --duration 30 --connections 8',
    '<%= config.bin %> loadtest penguins --version 4 --rows data/live.csv --rate 200 --p99-ms 50 --min-rps 190 --max-error-rate 0.001',
    '<%= config.bin %> loadtest penguins --rows data/penguins.csv --report loadtest.html --json',
  ];
  static override args = {
    endpoint: Args.string({ description: 'Endpoint whose model is tested', required: true }),
  };
  static override flags = {
    env: envFlag,
    version: Flags.integer({
      description: "Model version to test (default: the endpoint's current primary version)",
      min: 1,
    }),
    model: Flags.string({
      description: "Registered model name (default: the endpoint's model, else the endpoint name)",
    }),
    rows: Flags.string({ description: 'Rows to replay: a CSV or JSON file (an array of objects)' }),
    artifact: Flags.string({ description: 'Rows to replay: a table artifact, by digest or unique prefix' }),
    drop: Flags.string({
      description: 'A column left out of the replayed rows (the label); repeat for several',
      multiple: true,
    }),
    duration: Flags.string({
      char: 'd',
      description: 'Whole seconds to send requests (1 to 3600)',
      default: '10',
    }),
    connections: Flags.integer({ char: 'c', description: 'Concurrent connections', default: 4, min: 1 }),
    rate: Flags.string({
      char: 'r',
      description: 'Target requests per second over all connections (at least 1)',
    }),
    'rows-per-request': Flags.integer({ description: 'Rows in each request', default: 1, min: 1 }),
    'p99-ms': Flags.string({ description: 'Fail when the p99 latency is above this many ms' }),
    'min-rps': Flags.string({ description: 'Fail when fewer requests per second are answered' }),
    'max-error-rate': Flags.string({ description: 'Fail when a larger share (0–1) of requests fails' }),
    report: Flags.string({
      description:
        'Write the HTML report (latency histogram, latency over time) here, for a refused test too',
    }),
    json: jsonFlag,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(LoadTest);
    const { usageError } = await import('../lib/errors');
    const number = (flag: string, value: string | undefined) => {
      if (value === undefined) return undefined;
      const parsed = Number(value);
      if (value.trim() === '' || !Number.isFinite(parsed))
        throw usageError(`--${flag} "${value}" is not a number`);
      return parsed;
    };
    const settings: Record<string, unknown> = {
      duration: number('duration', flags.duration),
      connections: flags.connections,
      rowsPerRequest: flags['rows-per-request'],
      ...(flags.rate !== undefined ? { rate: number('rate', flags.rate) } : {}),
      ...(flags['p99-ms'] !== undefined ? { p99Ms: number('p99-ms', flags['p99-ms']) } : {}),
      ...(flags['min-rps'] !== undefined ? { minRps: number('min-rps', flags['min-rps']) } : {}),
      ...(flags['max-error-rate'] !== undefined
        ? { maxErrorRate: number('max-error-rate', flags['max-error-rate']) }
        : {}),
      ...(flags.drop ? { dropColumns: flags.drop } : {}),
    };
    const { checkLoadTestSettings, loadTestError, loadTestReport, runLoadTest, unansweredMatter } =
      await import('@cairn/delivery');
    const issues: Array<{ path: string[]; message: string }> = [];
    checkLoadTestSettings(settings, issues);
    if (issues.length > 0) {
      const flag = (key: string) =>
        key === 'dropColumns' ? '--drop' : `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
      throw usageError(issues.map((issue) => `${flag(issue.path[0]!)}: ${issue.message}`).join('; '));
    }
    if ((flags.rows === undefined) === (flags.artifact === undefined)) {
      throw usageError('give the rows to replay: --rows <file.csv|file.json> or --artifact <digest>');
    }
    // A report path it could never write is refused now, not after minutes of load.
    if (flags.report !== undefined) {
      const { checkOutputPath } = await import('../lib/export/common');
      await checkOutputPath(flags.report, '--report');
    }
    const delivery = await import('../lib/delivery');
    const { withProject, resolveDigest } = await import('../lib/inspect');
    // Ctrl-C or SIGTERM stops the load generator and removes the staging endpoint before exiting
    // (left behind, `cairn serve` would serve it); a second signal exits at once.
    const controller = new AbortController();
    const onSignal = (signal: NodeJS.Signals) => {
      if (controller.signal.aborted) process.exit(signal === 'SIGTERM' ? 143 : 130);
      controller.abort();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const result = await withProject(flags, async (stack) => {
      delivery.requireDeployer(stack);
      const rows = await readRows(stack, flags, resolveDigest);
      const deployer = await delivery.openDeployer(stack, 'control');
      try {
        const current = await deployer.status(args.endpoint);
        const primary = current?.routes.find((route) => route.role === 'primary');
        const modelName = flags.model ?? primary?.model.model ?? args.endpoint;
        const version =
          flags.version === undefined && primary && primary.model.model === modelName
            ? primary.model
            : await delivery.resolveModelVersion(stack, modelName, flags.version, 'production');
        return await runLoadTest(deployer, {
          endpoint: args.endpoint,
          model: { model: version.model, version: version.version, digest: version.digest },
          rows,
          settings,
          signal: controller.signal,
          ...(flags.json ? {} : { log: (message: string) => this.log(message) }),
        });
      } finally {
        await deployer.close();
      }
    }).finally(() => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    });
    // Atomic, folders made, a coded error for a path it cannot write: as every --out. A refused
    // test writes its report too; if that fails the refusal is still the error (the write failure
    // is said on stderr), while a passing test whose report cannot be written exits 2.
    const { resolve } = await import('node:path');
    const report = flags.report === undefined ? undefined : resolve(flags.report);
    let reportFailure: unknown;
    if (flags.report !== undefined) {
      const { writeOutput } = await import('../lib/export/common');
      await writeOutput(loadTestReport(result).content, flags.report, '--report').catch((error: unknown) => {
        reportFailure = error;
      });
    }
    const written = report !== undefined && reportFailure === undefined ? report : undefined;
    if (flags.json) {
      const { latencySample: _sample, ...printed } = result;
      this.printJson({ ...printed, ...(written ? { report: written } : {}) });
    } else {
      const ms = (value: number | undefined) => (value === undefined ? '–' : `${value.toFixed(1)} ms`);
      // Requests in flight when the test stops are normal: they are named only when they matter.
      const unanswered = unansweredMatter(result)
        ? `; ${result.unanswered.requests} unanswered at the end, the longest after ${ms(result.unanswered.longestWaitMs)}`
        : '';
      this.log(
        `${result.model.model} v${result.model.version}: p50 ${ms(result.latencyMs?.p50)}, p95 ${ms(result.latencyMs?.p95)}, p99 ${ms(result.latencyMs?.p99)}, ${result.rps.toFixed(1)} req/s, ${(result.errorRate * 100).toFixed(2)} % errors (${result.requests} requests in ${result.durationSeconds.toFixed(1)} s${unanswered})`,
      );
      if (written) this.log(`Report: ${written}`);
    }
    if (!result.passed) {
      if (reportFailure !== undefined)
        this.warn(`the report was not written: ${(reportFailure as Error).message}`);
      throw loadTestError(result, {
        ...(written ? { kept: { report: written } } : {}),
        thresholds: 'its flag (--p99-ms, --min-rps, --max-error-rate)',
        ...(report === undefined ? { hint: 'Pass --report <file.html> to keep its report.' } : {}),
      });
    }
    if (reportFailure !== undefined) throw reportFailure;
  }
}

/** The rows to replay, from a CSV/JSON file or a stored table artifact. */
async function readRows(
  stack: import('../lib/project').OpenedProject,
  flags: { rows?: string | undefined; artifact?: string | undefined },
  resolveDigest: typeof import('../lib/inspect').resolveDigest,
): Promise<Record<string, unknown>[]> {
  const tabular = await import('@cairn/tabular');
  const { usageError } = await import('../lib/errors');
  if (flags.rows !== undefined) {
    const { existsSync } = await import('node:fs');
    if (!existsSync(flags.rows)) throw usageError(`--rows: no file ${flags.rows}`);
    const table = flags.rows.toLowerCase().endsWith('.json')
      ? tabular.tableFromJson(flags.rows)
      : tabular.tableFromCsv(flags.rows, { nullValues: ['', 'NA'] });
    return table.rows() as Record<string, unknown>[];
  }
  const digest = await resolveDigest(stack.metadata, flags.artifact!);
  const record = await stack.metadata.getArtifact(digest);
  if (record && record.type !== 'table') {
    throw usageError(`--artifact ${digest.slice(0, 12)} is a ${record.type}, not a table`);
  }
  const chunks: Uint8Array[] = [];
  for await (const chunk of await stack.storage.get(digest)) chunks.push(chunk);
  const table = await tabular
    .table()
    .deserialize({ bytes: Buffer.concat(chunks) } as never, { name: digest.slice(0, 12) } as never);
  return table.rows() as Record<string, unknown>[];
}
