/** ESM-only packages (the Kubernetes client and its dependencies) are transpiled to CommonJS for jest. */
const esmPackages = ['@kubernetes/client-node', 'openid-client', 'oauth4webapi', 'jose', 'jsonpath-plus', 'rfc4648'];

const shared = {
  testEnvironment: 'node',
  transform: {
    '^.+\\.ts$': ['ts-jest', { diagnostics: false }],
    '^.+\\.m?js$': ['ts-jest', { diagnostics: false, tsconfig: { allowJs: true, module: 'commonjs', target: 'ES2022', esModuleInterop: true } }],
  },
  transformIgnorePatterns: [`/node_modules/(?!(${esmPackages.map((p) => p.replace('/', '\\/')).join('|')})/)`],
};

/**
 * Two projects: `unit` (pure rules, seconds, no servers: `npx jest --selectProjects unit`) and
 * `integration` (real Temporal, PostgreSQL, Prometheus, Kubernetes, git; its global setup starts
 * a Temporal dev server and builds or finds the tools). `npm test` runs both.
 */
/** @type {import('jest').Config} */
module.exports = {
  // Two cores: workflow tests run their own workers, so files run one or two at a time.
  maxWorkers: 2,
  // A global option: jest ignores it inside a project.
  testTimeout: 120_000,
  projects: [
    { ...shared, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    {
      ...shared,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      globalSetup: '<rootDir>/test/support/globalSetup.ts',
      globalTeardown: '<rootDir>/test/support/globalTeardown.ts',
    },
  ],
};
