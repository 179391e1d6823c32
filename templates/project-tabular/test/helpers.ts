import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AnyStep, StepContext } from '@cairn/core';
import { parse } from 'yaml';

/** The project folder (its conf/ and data/ are what the tests use). */
export const projectDir = dirname(dirname(fileURLToPath(import.meta.url)));

/** A step's config as conf/base/<step>.yaml gives it, with `changes` on top. */
export function baseConfig(step: string, changes: Record<string, unknown> = {}): any {
  return { ...parse(readFileSync(`${projectDir}/conf/base/${step}.yaml`, 'utf8')), ...changes };
}

/** Per column of conf/base/validate.yaml: its rules. */
export interface ColumnRules {
  type: 'number' | 'string' | 'boolean' | 'date';
  min?: number | string;
  max?: number | string;
  allowed?: Array<string | number | boolean>;
  maxMissing?: number;
}

/**
 * What the tests need to know about the project's data, read from its
 * config: the tests hold for any data set the config describes.
 */
export function project() {
  const prepare = baseConfig('prepare') as {
    task: 'classification' | 'regression';
    target: string;
    numeric: string[];
    categorical: string[];
    split: 'stratified' | 'random' | 'time';
    timeColumn?: string;
    window?: { column: string; last: string };
    testFraction: number;
  };
  const validate = baseConfig('validate') as { minRows: number; columns: Record<string, ColumnRules> };
  return { ...prepare, minRows: validate.minRows, columns: validate.columns };
}

/**
 * Call a step's `run` directly, as the orchestrator would: the config is
 * parsed by the step's own schema first, so a test fails on a config the
 * step would refuse.
 */
export async function runStep<T = any>(
  step: AnyStep,
  config: unknown,
  inputs: Record<string, unknown> = {},
): Promise<T> {
  const definition = step.definition as any;
  const parsed = definition.config ? await definition.config['~standard'].validate(config) : { value: {} };
  if (parsed.issues) throw new Error(`invalid config: ${JSON.stringify(parsed.issues)}`);
  const lines: string[] = [];
  const log = Object.fromEntries(
    ['debug', 'info', 'warn', 'error'].map((level) => [level, (m: string) => lines.push(`${level}: ${m}`)]),
  );
  const context: Partial<StepContext<unknown, unknown>> = {
    config: parsed.value,
    inputs,
    log: log as any,
    signal: new AbortController().signal,
    workdir: projectDir,
    step: definition.name,
    runId: 'test',
    attempt: 1,
    artifacts: {},
    pipeline: 'training',
    projectDir,
    stateDir: `${projectDir}/.cairn`,
  };
  return definition.run(context);
}
