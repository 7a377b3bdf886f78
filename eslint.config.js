// Lint rules that catch what the type checker does not: promises left floating or passed where a
// callback's result is ignored (a rejected promise there is an unhandled rejection, or a settle that never
// happens). Type-aware: it reads the same tsconfig as `npm run typecheck`.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  // test/fixtures/types: compile-time fixtures, one of them wrong on purpose; the typed-compile test runs tsc on them
  { ignores: ['dist/', 'node_modules/', 'docs/', '**/*.d.ts', '.tmp/', 'test/fixtures/types/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { project: ['./tsconfig.test.json', './bench/tsconfig.json', './chaos/tsconfig.json'], tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // node:test's describe/it return promises that the runner itself awaits
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite'] }] },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/no-explicit-any': 'error',
      'no-empty': ['error', { allowEmptyCatch: true }],
    },
  },
  {
    files: ['**/*.js'],
    ignores: ['dashboard/**'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
  {
    // the dashboard page: browser ES modules, no Node; only the browser globals it uses
    files: ['dashboard/**/*.js'],
    languageOptions: {
      globals: Object.fromEntries(
        ['window', 'document', 'location', 'history', 'navigator', 'localStorage', 'fetch', 'EventSource', 'AbortController', 'URLSearchParams', 'DOMException', 'ResizeObserver', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'].map((name) => [name, 'readonly']),
      ),
    },
  },
);
