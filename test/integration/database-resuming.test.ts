/**
 * An auto-paused Aurora cluster (minimum capacity 0) answers Data API calls with
 * DatabaseResumingException until it has resumed. Through the Data API driver (the adapter that
 * answers like the Data API, on the local PostgreSQL server), with the adapter's client made to
 * answer DatabaseResumingException for the statements of one table: the API waits a resume out
 * within its budget, and answers 503 with Retry-After when the database takes longer.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  DatabaseResumingException,
  ExecuteStatementCommand,
  type RDSDataClient,
} from "@aws-sdk/client-rds-data";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "../../functions/db/client.ts";
import type { DatabaseConfig } from "../../functions/shared/config.ts";
import { expectApiError } from "../support/api-errors.ts";
import { createDataApiAdapter, type DataApiAdapter } from "../support/data-api-adapter.ts";
import { createFreshPgDatabase, testDatabaseKind } from "../support/database.ts";
import { startTestServer, type TestServer } from "../support/server.ts";

/** How long one call waits for the database here (the API Lambdas wait 20 s). */
const RESUME_WAIT_MS = 2500;

/** Statements on these tables answer DatabaseResumingException while `resuming` is above 0. */
interface Pause {
  table: RegExp;
  remaining: number;
  refused: number;
}

function pausingClient(client: RDSDataClient, pause: Pause): RDSDataClient {
  const send = client.send.bind(client) as (command: unknown) => Promise<unknown>;
  return new Proxy(client, {
    get: (target, property, receiver) => {
      if (property !== "send") return Reflect.get(target, property, receiver);
      return async (command: unknown) => {
        if (
          pause.remaining > 0 &&
          command instanceof ExecuteStatementCommand &&
          pause.table.test(command.input.sql ?? "")
        ) {
          pause.remaining--;
          pause.refused++;
          throw new DatabaseResumingException({
            message:
              "The Aurora DB instance db-XYZ is resuming after being auto-paused. Please wait a few seconds and try again.",
            $metadata: { httpStatusCode: 400 },
          });
        }
        return send(command);
      };
    },
  });
}

describe.runIf(testDatabaseKind === "data-api")("an auto-paused database (Data API)", () => {
  let server: TestServer;
  let adapter: DataApiAdapter;
  let dropDatabase: () => Promise<void>;
  let dataDir: string;
  const pause: Pause = { table: /tenant_templates/, remaining: 0, refused: 0 };

  beforeAll(async () => {
    const fresh = await createFreshPgDatabase();
    dropDatabase = fresh.drop;
    adapter = createDataApiAdapter(fresh.url);
    const config: DatabaseConfig = {
      kind: "data-api",
      clusterArn: "arn:aws:rds:eu-west-1:123456789012:cluster:local",
      secretArn: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:local",
      database: new URL(fresh.url).pathname.slice(1),
    };
    const handle = await openDatabase(config, {
      rdsDataClient: pausingClient(adapter.client, pause),
      resumeWaitMs: RESUME_WAIT_MS,
    });
    dataDir = mkdtempSync(join(tmpdir(), "tp-resume-"));
    server = await startTestServer({
      restartOf: { database: { ...handle, config, destroy: async () => handle.close() }, dataDir },
    });
  });

  afterAll(async () => {
    await server?.close();
    await adapter?.close();
    await dropDatabase?.();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("waits for the database to resume and answers as usual", async () => {
    // Prepare
    pause.refused = 0;
    pause.remaining = 2;

    // Act
    const res = await server.request("GET", "/api/provisioning/templates");

    // Assess
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(pause.refused).toBe(2);
    expect(res.body.items.length).toBeGreaterThan(0);
  });

  it("answers 503 database_resuming with Retry-After when the database takes longer than the wait", async () => {
    // Prepare
    pause.refused = 0;
    pause.remaining = 1000;

    // Act
    const started = Date.now();
    const res = await server.request("GET", "/api/provisioning/templates");
    const elapsed = Date.now() - started;
    pause.remaining = 0;

    // Assess
    expectApiError(res, 503, { code: "database_resuming" });
    expect(res.headers.get("retry-after")).toBe("10");
    // Each statement waited 1 s and tried again; 2 s more would have passed the 2.5 s budget.
    expect(pause.refused).toBeGreaterThanOrEqual(2);
    expect(pause.refused % 2).toBe(0);
    expect(elapsed).toBeGreaterThanOrEqual(1000);
    expect(elapsed).toBeLessThan(RESUME_WAIT_MS);
  });

  it("answers 503 with Retry-After, not 500, when the API key cannot be checked", async () => {
    // Prepare
    pause.table = /api_keys/;
    pause.remaining = 1000;

    // Act
    const res = await server.request("GET", "/api/provisioning/templates");
    pause.remaining = 0;
    pause.table = /tenant_templates/;

    // Assess
    expectApiError(res, 503, { code: "service_unavailable" });
    expect(res.headers.get("retry-after")).toBe("10");
  });
});
