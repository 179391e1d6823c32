/**
 * Compile-time wiring checks: `tsc` (the typecheck target) fails if any
 * `@ts-expect-error` below stops being an error, i.e. if a mis-wired
 * pipeline starts to compile.
 */
import { expectTypeOf } from 'vitest';
import { z } from 'zod';
import { json, metrics, model } from './artifacts/builtin';
import type { ModelBundle } from './contracts/artifact';
import { type Handle, pipeline } from './pipeline';
import { step } from './step';

interface Penguin {
  species: string;
  bill: number;
}

const ingest = step({ name: 'ingest', outputs: { data: json<Penguin[]>() }, run: () => ({ data: [] }) });
const train = step({
  name: 'train',
  config: z.object({ trees: z.number() }),
  inputs: { data: json<Penguin[]>() },
  outputs: { model: model(), metrics: metrics() },
  run: ({ config, inputs }) => {
    expectTypeOf(config.trees).toEqualTypeOf<number>();
    expectTypeOf(inputs.data).toEqualTypeOf<Penguin[]>();
    return {
      model: { manifest: { flavor: 'x', signature: { inputs: [], outputs: [] } }, files: {} },
      metrics: { accuracy: 1 },
    };
  },
});
const evaluate = step({
  name: 'evaluate',
  inputs: { model: model(), data: json<Penguin[]>() },
  outputs: { scores: metrics() },
  run: ({ inputs }) => {
    expectTypeOf(inputs.model).toEqualTypeOf<ModelBundle>();
    return { scores: { accuracy: 1 } };
  },
});
const countStrings = step({
  name: 'count',
  inputs: { words: json<string[]>() },
  outputs: { n: metrics() },
  run: () => ({ n: {} }),
});

pipeline('typed', () => {
  const { data } = ingest();
  expectTypeOf(data).toEqualTypeOf<Handle<Penguin[], 'json'>>();
  const { model: m, metrics: scores } = train({ data });
  evaluate({ model: m, data });

  // @ts-expect-error a model is not a json<Penguin[]>
  train({ data: m });
  // @ts-expect-error metrics are not a model
  evaluate({ model: scores, data });
  // @ts-expect-error json<Penguin[]> is not json<string[]>
  countStrings({ words: data });
  // @ts-expect-error a required input is missing
  evaluate({ model: m });
  // @ts-expect-error outputs are typed: train has no output "report"
  train({ data }).report;
});

step({
  name: 'returns-wrong',
  outputs: { scores: metrics() },
  // @ts-expect-error run must return the declared outputs
  run: () => ({ score: { a: 1 } }),
});

// Report values are built with reportHtml()/reportMarkdown(), which keep the format's literal type.
import { report, reportHtml } from './artifacts/builtin';

step({
  name: 'writes-report',
  outputs: { page: report() },
  run: () => ({ page: reportHtml('<p>hi</p>', { title: 'x' }) }),
});
step({
  name: 'writes-bad-report',
  outputs: { page: report() },
  // @ts-expect-error a report needs content
  run: () => ({ page: { format: 'html' as const } }),
});
