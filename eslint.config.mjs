// @ts-check
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';

export default tseslint.config(
  { ignores: ['node_modules/**', 'cdk.out/**', '.data/**', 'coverage/**', '*.config.*', 'bench/results/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { 'import-x': importX },
    settings: { 'import-x/resolver': { typescript: true, node: true } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'import-x/no-extraneous-dependencies': [
        'error',
        { devDependencies: ['test/**', 'bench/**', 'local/**', 'bin/**', 'lib/**', 'views.ts', 'index.ts'] },
      ],
      // The dependency direction of ARCHITECTURE.md: core <- ports <- adapters, handlers, local.
      'import-x/no-restricted-paths': [
        'error',
        {
          zones: [
            {
              target: './lambdas/core',
              from: [
                './lambdas/ports',
                './lambdas/adapters',
                './lambdas/runtime',
                './lambdas/handlers',
                './local',
                './lib',
                './bin',
              ],
              message: 'lambdas/core is the pure domain: it imports nothing of the project but core.',
            },
            {
              target: './lambdas/ports',
              from: [
                './lambdas/adapters',
                './lambdas/runtime',
                './lambdas/handlers',
                './local',
                './lib',
                './bin',
              ],
              message: 'ports depend only on core.',
            },
            {
              target: './lambdas/services',
              from: ['./lambdas/adapters', './lambdas/runtime', './lambdas/handlers'],
              message: 'services (the use cases) depend on core and ports only; adapters are injected.',
            },
            {
              target: './lambdas',
              from: ['./local', './lib', './bin'],
              message: 'Code that runs in AWS Lambda never imports the local runtime or the infrastructure.',
            },
            {
              target: './lib',
              from: ['./local', './lambdas/adapters', './lambdas/handlers', './lambdas/ports'],
              message:
                'lib/ imports only lambdas/runtime/env.ts, function-environment.ts, service-name.ts and the view definitions from the runtime side.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['lambdas/core/**/*.ts'],
    rules: {
      'no-restricted-globals': [
        'error',
        { name: 'process', message: 'core reads no environment: take it as a parameter.' },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.object.name='Date'][callee.property.name='now']",
          message: 'core reads no clock: take the time as a parameter.',
        },
        {
          selector: "NewExpression[callee.name='Date'][arguments.length=0]",
          message: 'core reads no clock: take the time as a parameter.',
        },
      ],
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@aws-sdk/*', 'aws-lambda', '@types/aws-lambda', '@smithy/*'],
              message: 'core is pure: no AWS SDK or Lambda types.',
            },
          ],
        },
      ],
    },
  },
  {
    // CommonJS entry points (the `streamfold` command, test fixtures) load modules with require.
    files: ['**/*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: { require: 'readonly', module: 'writable', process: 'readonly', console: 'readonly' },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
