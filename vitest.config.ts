import { defineConfig } from "vitest/config";

/**
 * Projects:
 * - unit: pure logic, no database;
 * - integration-{pglite,postgres,data-api}: the same integration suite (through HTTP against a real
 *   database) on embedded PGlite, on a fresh database of the local PostgreSQL server, and through
 *   the RDS Data API driver (answered by the adapter in test/support/data-api-adapter.ts);
 * - e2e: whole-process tests (the CLI as a subprocess, `npm start`, the browser) on PGlite.
 */
const integration = (db: "pglite" | "postgres" | "data-api") => ({
  extends: true as const,
  test: {
    name: `integration-${db}`,
    include: ["test/integration/**/*.test.ts"],
    env: { TEST_DATABASE: db },
  },
});

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    projects: [
      { extends: true, test: { name: "unit", include: ["test/unit/**/*.test.ts"] } },
      integration("pglite"),
      integration("postgres"),
      integration("data-api"),
      {
        extends: true,
        test: { name: "e2e", include: ["test/e2e/**/*.test.ts"], env: { TEST_DATABASE: "pglite" } },
      },
    ],
  },
});
