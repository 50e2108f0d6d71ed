import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * For each core folder (src/<folder>), the src/ folders it must never import (docs/architecture.md).
 * src/cli is forbidden everywhere in the core. The consumers never import the simulator: faults reach them
 * through their injection points (src/consumers/injection.ts), which src/sim/faults.ts implements.
 */
const ALL = ['cmdq', 'tlbi', 'pgtable', 'smmu', 'consumers', 'sim', 'audit', 'capture', 'corpus', 'textdump', 'cli'];
const except = (...allowed) => ALL.filter((f) => !allowed.includes(f));
const CORE_BOUNDARIES = {
  '.': ['cli'],
  cmdq: except('cmdq'),
  textdump: except('textdump'),
  pgtable: except('pgtable'),
  tlbi: except('tlbi', 'cmdq'),
  smmu: except('smmu', 'cmdq', 'pgtable'),
  audit: except('audit', 'cmdq', 'tlbi', 'textdump'),
  consumers: except('consumers', 'cmdq', 'tlbi', 'pgtable', 'smmu'),
  sim: except('sim', 'cmdq', 'tlbi', 'pgtable', 'smmu', 'consumers'),
  capture: except('capture', 'cmdq', 'tlbi', 'audit', 'textdump'),
  corpus: except('corpus', 'sim'),
};
const boundaryPatterns = (folder) => [
  { group: ['node:*'], message: 'The core must not import node: modules (it also runs in the browser).' },
  ...CORE_BOUNDARIES[folder].map((f) => ({
    group: [`**/${f}`, `**/${f}/**`, `**/${f}.js`],
    message: `src/${folder} must not import src/${f} (docs/architecture.md: arrows that must hold).`,
  })),
];

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      'web/dist/**',
      'test-results/**',
      'bin/**',
      'coverage/**',
      'src/schema/generated/**',
      'bench/wasm/**', // AssemblyScript (u64, usize): compiled by asc, not tsc
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  // Every core file: no node: modules, no CLI (a folder not listed in CORE_BOUNDARIES keeps this).
  {
    files: ['src/**/*.ts'],
    ignores: ['src/cli/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['node:*'], message: 'The core must not import node: modules (it also runs in the browser).' },
            { group: ['**/cli', '**/cli/**'], message: 'The core must not import the CLI (src/cli/).' },
          ],
        },
      ],
    },
  },
  // The arrows of docs/architecture.md. ESLint applies the last matching config's rule options, so each
  // entry carries the whole list for its files (the node: ban included).
  ...Object.keys(CORE_BOUNDARIES).map((folder) => ({
    files: [folder === '.' ? 'src/*.ts' : `src/${folder}/**/*.ts`],
    rules: { 'no-restricted-imports': ['error', { patterns: boundaryPatterns(folder) }] },
  })),
  ...[
    ['src/consumers/driver', 'pkvm'],
    ['src/consumers/pkvm', 'driver'],
  ].map(([base, other]) => ({
    files: [`${base}.ts`, `${base}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            ...boundaryPatterns('consumers'),
            {
              group: [`./${other}`, `./${other}.js`, `**/${other}`, `**/${other}.js`, `**/${other}/**`],
              message: 'The two consumers of the engine never import each other.',
            },
          ],
        },
      ],
    },
  })),
  {
    files: ['web/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/src/cli', '**/src/cli/**'],
              message: 'The page must not import the CLI (src/cli/); move what it needs into the core (issue 12).',
            },
            { group: ['node:*'], message: 'The page runs in the browser: no node: modules.' },
          ],
        },
      ],
    },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  // Rooms one can live in (issue 12): no source file over 600 lines, comments and blank lines included, and
  // no function over 100. Tests and benchmarks are exempt (tables of cases read better whole).
  {
    files: ['src/**/*.ts', 'web/src/**/*.ts', 'bin/**/*.js', 'scripts/**/*.ts'],
    rules: {
      'max-lines': ['error', { max: 600, skipBlankLines: false, skipComments: false }],
      'max-lines-per-function': ['error', { max: 100, skipBlankLines: false, skipComments: false }],
    },
  },
);
