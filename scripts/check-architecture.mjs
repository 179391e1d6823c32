#!/usr/bin/env node
// The layout's rules, checked on every `npm test` (docs/architecture.md):
//   1. @cairn/core, the kernel, stays at most 3,000 non-test lines;
//   2. a contract file (packages/core/src/contracts/*) imports only other
//      contracts and the kernel's errors — never an implementation;
//   3. no import cycle between the files of any package's src/;
//   4. packages import each other only in the allowed direction (core ← runtime
//      ← everything else; core never imports a workspace package);
//   5. no function in the kernel, the runtime or delivery is longer than
//      120 lines (issue #10: a function is read whole, or split by concern).
// Exits 1 naming every violation. Rules 1–4 are a regex over import lines;
// rule 5 parses with the TypeScript compiler the repository already has.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const KERNEL_LIMIT = 3000;
const FUNCTION_LIMIT = 120;
const FUNCTION_LIMITED = ['packages/core', 'packages/runtime', 'packages/delivery'];
const problems = [];

const isTest = (file) => /\.test(-d)?\.ts$/.test(file);
function sources(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sources(path));
    else if (/\.(ts|mts)$/.test(name) && !isTest(name)) out.push(path);
  }
  return out;
}
const IMPORT =
  /(?:^|\n)\s*(import|export)(\s+type)?\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
/** Every module a file imports; `values: true` leaves out type-only imports, which vanish at run time. */
function importsOf(file, { values = false } = {}) {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(IMPORT)].filter((m) => !(values && m[2])).map((m) => m[3] ?? m[4]);
}
function resolveLocal(from, spec) {
  const base = resolve(dirname(from), spec);
  for (const candidate of [base, `${base}.ts`, join(base, 'index.ts')]) {
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {}
  }
  return undefined;
}

// 1. kernel size
const kernel = sources(join(root, 'packages/core/src'));
const kernelLines = kernel.reduce((sum, f) => sum + readFileSync(f, 'utf8').split('\n').length - 1, 0);
if (kernelLines > KERNEL_LIMIT)
  problems.push(`packages/core/src has ${kernelLines} non-test lines, above the kernel's ${KERNEL_LIMIT}`);

// 2. contracts import contracts (and errors), nothing else
for (const file of kernel.filter((f) => f.includes('/contracts/'))) {
  for (const spec of importsOf(file)) {
    if (spec.startsWith('node:')) continue;
    const target = spec.startsWith('.') ? resolveLocal(file, spec) : undefined;
    const allowed = target && (target.includes('/contracts/') || target.endsWith('/src/errors.ts'));
    if (!allowed)
      problems.push(`${relative(root, file)} imports ${spec}: a contract imports only contracts and errors`);
  }
}

// 3. no cycles inside a package (of value imports: a type-only import is gone at run time)
const packages = ['packages', 'plugins'].flatMap((group) =>
  readdirSync(join(root, group))
    .map((name) => join(root, group, name))
    .filter((dir) => {
      try {
        return statSync(join(dir, 'src')).isDirectory();
      } catch {
        return false;
      }
    }),
);
for (const dir of packages) {
  const files = sources(join(dir, 'src'));
  const edges = new Map(
    files.map((f) => [
      f,
      importsOf(f, { values: true })
        .filter((s) => s.startsWith('.'))
        .map((s) => resolveLocal(f, s))
        .filter(Boolean),
    ]),
  );
  const state = new Map(); // 1 visiting, 2 done
  const stack = [];
  const visit = (file) => {
    if (state.get(file) === 2) return;
    if (state.get(file) === 1) {
      const cycle = stack.slice(stack.indexOf(file)).concat(file);
      problems.push(`import cycle: ${cycle.map((f) => relative(root, f)).join(' → ')}`);
      return;
    }
    state.set(file, 1);
    stack.push(file);
    for (const next of edges.get(file) ?? []) visit(next);
    stack.pop();
    state.set(file, 2);
  };
  for (const file of files) visit(file);
}

// 4. direction between packages: the kernel imports no workspace package; the
// runtime imports only the kernel (plugins are found at run time, not imported).
const allowedFrom = {
  'packages/core': [],
  'packages/runtime': ['@cairn/core'],
  // The load test's report is built with tabular's report and chart helpers; tabular imports only core and stats.
  'packages/delivery': ['@cairn/core', '@cairn/tabular'],
  'packages/stats': [],
};
for (const [dir, allowed] of Object.entries(allowedFrom)) {
  for (const file of sources(join(root, dir, 'src'))) {
    for (const spec of importsOf(file)) {
      const pkg = spec.match(/^@cairn\/[^/]+/)?.[0];
      if (pkg && !allowed.includes(pkg) && !spec.startsWith(`@cairn/${dir.split('/')[1]}`))
        problems.push(
          `${relative(root, file)} imports ${spec}: ${dir} may import only ${allowed.join(', ') || 'no workspace package'}`,
        );
    }
  }
}

// 5. function length: every function-like node with a body (declarations, methods, arrows),
// from its first line to its last; a nested function counts inside its parent too.
let functionsChecked = 0;
for (const dir of FUNCTION_LIMITED) {
  for (const file of sources(join(root, dir, 'src'))) {
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    const visit = (node) => {
      if (ts.isFunctionLike(node) && node.body) {
        functionsChecked++;
        const first = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
        const last = source.getLineAndCharacterOfPosition(node.end).line;
        const lines = last - first + 1;
        if (lines > FUNCTION_LIMIT) {
          const name =
            node.name?.getText(source) ??
            (ts.isVariableDeclaration(node.parent) ? node.parent.name.getText(source) : '(anonymous)');
          problems.push(
            `${relative(root, file)}:${first + 1} ${name} is ${lines} lines, above ${FUNCTION_LIMIT}: split it by concern`,
          );
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
}

if (problems.length > 0) {
  console.error(
    `check-architecture: ${problems.length} problem(s)\n${problems.map((p) => `  - ${p}`).join('\n')}`,
  );
  process.exit(1);
}
console.log(
  `check-architecture: kernel ${kernelLines}/${KERNEL_LIMIT} lines; contracts, cycles and package direction clean; ${functionsChecked} functions in ${FUNCTION_LIMITED.join(', ')} within ${FUNCTION_LIMIT} lines`,
);
