/**
 * The generated project of the whole-process benchmark: the layered DAG of
 * lib/dag.mjs with one YAML config per step in conf/base, a cairn.config.mjs,
 * a pipeline module, and the three other contenders' programs (the API
 * script, the plain Node script, a doit dodo.py), all doing the same work:
 * read the step's config and its parents' small outputs, hash, write one output.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { nodeName, parents } from './dag.mjs';

const DAG_URL = new URL('./dag.mjs', import.meta.url).href;

/** Write the step configs (`seed: i`) of an N-step DAG; `seed` changes s0_0's seed. */
export async function writeConfigs(dir, size, seed0 = 0) {
  const base = join(dir, 'conf', 'base');
  await mkdir(base, { recursive: true });
  await Promise.all(
    Array.from({ length: size }, (_, i) =>
      writeFile(join(base, `${nodeName(i)}.yaml`), `seed: ${i === 0 ? seed0 : i}\n`),
    ),
  );
}

export async function writeProject(dir, size) {
  await mkdir(join(dir, 'pipelines'), { recursive: true });
  await writeConfigs(dir, size);
  await writeFile(join(dir, 'cairn.config.mjs'), 'export default {};\n');
  await writeFile(
    join(dir, 'pipelines', 'dag.mjs'),
    `import { makeDag } from ${JSON.stringify(DAG_URL)};\nexport const dag = makeDag(${size}, import.meta.url);\n`,
  );
  await writeFile(join(dir, 'api.mjs'), API_SCRIPT);
  await writeFile(join(dir, 'plain.mjs'), plainScript(size));
  await writeFile(join(dir, 'dodo.py'), dodo(size));
}

/** The API contender: what a user's `node script.mjs` would do. Prints how many steps executed. */
const API_SCRIPT = `import { openProject, runPipeline } from '@cairn/runtime';
const project = await openProject(process.cwd(), { exact: true });
let executed = 0;
try {
  const result = await runPipeline(await project.pipeline(), {
    ...project.runOptions(),
    onEvent: (event) => { if (event.type === 'step.started') executed += 1; },
  });
  if (result.status !== 'succeeded') throw new Error('run ' + result.status + ': ' + JSON.stringify(result.error));
} finally {
  await project.close();
}
process.stdout.write(JSON.stringify({ executed }) + '\\n');
`;

/**
 * The plain contender: a hand-written incremental script. A step re-runs when
 * the hash of its config text and its parents' output digests changed; state
 * is one JSON file written at the end. No fsync, no validation, no records.
 */
function plainScript(size) {
  const parentList = JSON.stringify(Array.from({ length: size }, (_, i) => parents(i)));
  return `import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
const SIZE = ${size}, WIDTH = 10, PARENTS = ${parentList};
const name = (i) => 's' + Math.floor(i / WIDTH) + '_' + (i % WIDTH);
const sha = (text) => createHash('sha256').update(text).digest('hex');
mkdirSync('out', { recursive: true });
let state = {};
try { state = JSON.parse(readFileSync('plain-state.json', 'utf8')); } catch {}
const digests = [];
let executed = 0;
for (let i = 0; i < SIZE; i++) {
  const config = readFileSync('conf/base/' + name(i) + '.yaml', 'utf8');
  const seed = Number(/seed: *(-?\\d+)/.exec(config)[1]);
  const key = sha(config + '|' + PARENTS[i].map((p) => digests[p]).join('|'));
  const file = 'out/' + name(i) + '.json';
  if (state[name(i)]?.key === key && existsSync(file)) { digests[i] = state[name(i)].digest; continue; }
  const [a, b] = PARENTS[i].map((p) => JSON.parse(readFileSync('out/' + name(p) + '.json', 'utf8')).v);
  const text = JSON.stringify({ v: sha((a ?? '') + '|' + (b ?? '') + '|' + seed) });
  writeFileSync(file, text);
  digests[i] = sha(text);
  state[name(i)] = { key, digest: digests[i] };
  executed += 1;
}
writeFileSync('plain-state.json', JSON.stringify(state));
process.stdout.write(JSON.stringify({ executed }) + '\\n');
`;
}

/** doit: one task per step, file_dep on its config and parents' outputs, a Python action in-process. */
function dodo(size) {
  const parentList = JSON.stringify(Array.from({ length: size }, (_, i) => parents(i)));
  return `import hashlib, json, os, re
SIZE, WIDTH, PARENTS = ${size}, 10, ${parentList}
DOIT_CONFIG = {'verbosity': 0, 'backend': 'json', 'dep_file': '.doit.json'}
os.makedirs('out', exist_ok=True)
def name(i): return 's%d_%d' % (i // WIDTH, i % WIDTH)
def work(i):
    with open('conf/base/%s.yaml' % name(i)) as f:
        seed = int(re.search(r'seed: *(-?\\d+)', f.read()).group(1))
    vs = []
    for p in PARENTS[i]:
        with open('out/%s.json' % name(p)) as f:
            vs.append(json.load(f)['v'])
    a, b = (vs + ['', ''])[:2]
    text = json.dumps({'v': hashlib.sha256(('%s|%s|%d' % (a, b, seed)).encode()).hexdigest()})
    with open('out/%s.json' % name(i), 'w') as f:
        f.write(text)
def task_step():
    for i in range(SIZE):
        yield {
            'name': name(i),
            'actions': [(work, [i])],
            'file_dep': ['conf/base/%s.yaml' % name(i)] + ['out/%s.json' % name(p) for p in PARENTS[i]],
            'targets': ['out/%s.json' % name(i)],
        }
`;
}

export const projectUrl = (dir) => pathToFileURL(dir).href;
