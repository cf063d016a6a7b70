// @ts-check
import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  globalIgnores(['dist/', 'dist-bench/', 'coverage/', '.rollout/']),
  js.configs.recommended,
  tseslint.configs.strictTypeChecked,
  tseslint.configs.stylisticTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        // tsconfig.test.json covers src/, test/, bench/ and vitest.config.ts (tsconfig.json is src/ only);
        // tsconfig.web.json the page script that runs in the browser (src/ui/web/).
        project: ['./tsconfig.test.json', './tsconfig.web.json'],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // `${count} drones` is well-defined for numbers; String(n) around ~300 of them would only add noise.
      // (Every option is spelled out: an omitted one falls back to the rule's lax default, not to strict's.)
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        {
          allowNumber: true,
          allowAny: false,
          allowBoolean: false,
          allowNever: false,
          allowNullish: false,
          allowRegExp: false,
        },
      ],
      // `(done) => server.close(() => done())` is the idiom for callbacks; braces around each add nothing.
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true }],
      // It asks for `x!` where the code writes `x as T`, which the strict no-non-null-assertion then forbids.
      '@typescript-eslint/non-nullable-type-assertion-style': 'off',
      // An async function without await is deliberate here (a throw becomes a rejection, an interface wants
      // a promise); forgotten awaits are caught by no-floating-promises and no-misused-promises.
      '@typescript-eslint/require-await': 'off',
      // entry['level'] on a Record marks a key that may be absent, as TS's noPropertyAccessFromIndexSignature does.
      '@typescript-eslint/dot-notation': ['error', { allowIndexSignaturePropertyAccess: true }],
    },
  },
  {
    // The page script runs in the browser, as a classic script (a report inlines it).
    files: ['src/ui/web/**/*.ts'],
    languageOptions: { globals: globals.browser, sourceType: 'script' },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // A wrong `!` in a test fails that test at once; a guard before each lookup would only add noise.
      '@typescript-eslint/no-non-null-assertion': 'off',
      // Vitest's asymmetric matchers (expect.any(String), expect.stringMatching(...)) are typed `any`.
      '@typescript-eslint/no-unsafe-assignment': 'off',
      // `pid ${child.pid}` or a regex group in a failure message: "undefined" there misleads no user.
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        {
          allowNumber: true,
          allowNullish: true,
          allowAny: false,
          allowBoolean: false,
          allowNever: false,
          allowRegExp: false,
        },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: {
      globals: globals.node,
      parserOptions: {
        // JS files are in no tsconfig: this file gets a default project, so it is still type-checked.
        project: false,
        projectService: { allowDefaultProject: ['eslint.config.js'] },
      },
    },
  },
  {
    // Child processes that import the built dist/ by a path known only at run time: nothing to type.
    files: ['test/**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
  },
);
