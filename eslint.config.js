// ESLint: a small, strict, type-aware rule set. Promises that nobody awaits and unused code are the bugs
// that matter in a co-signer (a dropped rejection is a silent failure; dead code is code a reviewer must
// still read), and the size limits keep every file and function small enough to review in one sitting.
// `make lint` runs this.
import tseslint from 'typescript-eslint';

const production = ['enclave/**/*.ts', 'parent/**/*.ts', 'proto/**/*.ts', 'local/**/*.ts'];

export default tseslint.config(
  { ignores: ['node_modules/**', 'build/**', 'dist/**', '**/build/**', 'coverage/**', '**/*.generated.ts', '**/*.gen.ts', 'proto/generated/**'] },
  {
    files: ['**/*.ts'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        // A leading underscore marks a parameter an interface requires but this implementation ignores.
        { args: 'after-used', argsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true },
      ],
      // `typeof import('./x.ts')` stays allowed: it types a module that is loaded lazily on purpose.
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false }],
    },
  },
  {
    files: production,
    rules: {
      'max-lines': ['error', { max: 400, skipBlankLines: false, skipComments: false }],
      'max-lines-per-function': ['error', { max: 100, skipBlankLines: false, skipComments: false, IIFEs: true }],
    },
  },
);
