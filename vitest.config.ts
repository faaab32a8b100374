import { defineConfig } from "vitest/config";
import { BaseSequencer, type TestSpecification } from "vitest/node";

/**
 * The files that take longest (measured: each is 30–120 s of a ~7 min run), slowest first. Started
 * first, they run beside the many short files instead of after them; left to vitest's order (by
 * project name, then file size) the CDK synth test started last and was the run's last 30 s.
 */
const SLOWEST_FIRST = [
  "test/e2e/cli.test.ts",
  "test/e2e/crash-resume.test.ts",
  "test/integration/deprovisioning.test.ts",
  "test/integration/provisioning.test.ts",
  "test/e2e/local-start.test.ts",
  "test/integration/large-tenants.test.ts",
  "test/integration/http-fuzz.test.ts",
  "test/integration/events.test.ts",
  "test/e2e/console.test.ts",
  "test/e2e/data-dir-permissions.test.ts",
  "test/unit/cdk-stack.test.ts",
];

class SlowestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (spec: TestSpecification) => {
      const i = SLOWEST_FIRST.findIndex((path) => spec.moduleId.endsWith(path));
      return i < 0 ? SLOWEST_FIRST.length : i;
    };
    return sorted
      .map((spec, i) => ({ spec, i }))
      .sort((a, b) => rank(a.spec) - rank(b.spec) || a.i - b.i)
      .map(({ spec }) => spec);
  }
}

/**
 * Projects:
 * - unit: pure logic, no database (test/unit/);
 * - integration-{pglite,postgres,data-api}: suites whose behaviour depends on the database driver
 *   (test/integration/: runs, steps, SQL, statistics), through HTTP against a real database — on
 *   embedded PGlite, on a fresh database of the local PostgreSQL server, and through the RDS Data
 *   API driver answered by the adapter in test/support/data-api-adapter.ts;
 * - api: the HTTP surface that does not depend on the driver (test/api/: templates, keys, OpenAPI,
 *   bad input), once, on PGlite;
 * - adapters: the local stand-ins' own tests (test/adapters/: the Data API adapter and drizzle's
 *   driver on it), once, against the local PostgreSQL server;
 * - e2e: whole-process tests (the CLI as a subprocess, `npm start`, the browser) on PGlite.
 *
 * Every project but adapters shares its workers' modules across files (`isolate: false`): loading
 * the service and the AWS SDK once per file was a third of the suite's CPU time. A file must leave
 * no state behind: servers closed, AWS client mocks restored, environment variables put back, in
 * its afterAll. Each PGlite test database opens from one migrated image per worker
 * (test/support/database.ts), not from initdb.
 */
const integration = (db: "pglite" | "postgres" | "data-api") => ({
  extends: true as const,
  test: {
    name: `integration-${db}`,
    include: ["test/integration/**/*.test.ts"],
    env: { TEST_DATABASE: db },
    // Each file starts its own server on its own database; the modules (the whole service, the AWS
    // SDK) are loaded once per worker instead of once per file, which was a third of the suite's
    // time. AWS client mocks are restored in afterAll.
    isolate: false,
  },
});

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    // Most test time is spent waiting (on PostgreSQL, on polled runs, on subprocesses), not computing:
    // more files at once than this machine has cores keeps both cores busy (bench in the note).
    maxWorkers: 4,
    sequence: { sequencer: SlowestFirst },
    projects: [
      { extends: true, test: { name: "unit", include: ["test/unit/**/*.test.ts"], isolate: false } },
      integration("pglite"),
      integration("postgres"),
      integration("data-api"),
      {
        extends: true,
        test: {
          name: "api",
          include: ["test/api/**/*.test.ts"],
          env: { TEST_DATABASE: "pglite" },
          isolate: false,
        },
      },
      { extends: true, test: { name: "adapters", include: ["test/adapters/**/*.test.ts"] } },
      {
        extends: true,
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          env: { TEST_DATABASE: "pglite" },
          isolate: false,
        },
      },
    ],
  },
});
