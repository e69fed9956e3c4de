// Type-aware lint (issue 16 part 3). Only rules that catch defects tsc lets through; layout is Prettier's job.
// The type information comes from tsconfig.eslint.json: one program over sources and tests, @ssmax/* mapped to src.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: ['**/dist/**', '**/node_modules/**', 'reports/**', 'worlds/**', 'packages/core/test-vectors/**'],
  },
  {
    files: ['packages/*/src/**/*.ts', 'bench/src/**/*.ts', 'scenarios/**/*.ts'],
    extends: [tseslint.configs.base],
    languageOptions: {
      parserOptions: {
        project: './tsconfig.eslint.json',
        tsconfigRootDir: import.meta.dirname,
      },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // A promise nobody awaits loses its rejection (an unhandled rejection kills the process) and its ordering.
      // Fire-and-forget must be said with `void` and a comment saying why.
      '@typescript-eslint/no-floating-promises': 'error',
      // An async callback where a void one is expected (event handlers, forEach, timers) drops its rejection too.
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      // `any` switches type checking off the same way; a foreign library's wrong types get one commented cast.
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true }],
      'no-restricted-syntax': [
        'error',
        {
          // `x as unknown as T` silences every type error between x and T. Use a type guard, a parser
          // that checks, or a narrow typed helper; at a foreign library's wrong types, one cast with a comment.
          selector: ':matches(TSAsExpression, TSTypeAssertion) > :matches(TSAsExpression, TSTypeAssertion).expression > TSUnknownKeyword.typeAnnotation',
          message: 'No `as unknown as`: it hides type errors. Use a type guard, a checked parser or a narrow typed helper.',
        },
        {
          selector: ':matches(TSAsExpression, TSTypeAssertion) > :matches(TSAsExpression, TSTypeAssertion).expression > TSAnyKeyword.typeAnnotation',
          message: 'No `as any as`: it hides type errors. Use a type guard, a checked parser or a narrow typed helper.',
        },
      ],
    },
  },
);
