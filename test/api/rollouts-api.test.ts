/**
 * The rollout endpoints' HTTP surface and the `rollout` CLI commands (runCli, in this process)
 * against the local service: bad bodies are 400s naming the field, unknown templates, versions
 * and rollouts 404s, an admin key is required; the CLI plans, starts, shows, lists and aborts,
 * names a bad flag (exit 2) and an unknown rollout (exit 3).
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rolloutPageSchema, rolloutPlanSchema, rolloutSchema } from "../../functions/schemas/rollouts.ts";
import { expectApiError } from "../support/api-errors.ts";
import { cliAgainst } from "../support/cli-in-process.ts";
import { provisionBody } from "../support/provision-body.ts";
import { API, runHelpers } from "../support/runs.ts";
import { startTestServer, type TestServer } from "../support/server.ts";

const ROLLOUTS = `${API}/rollouts`;
let server: TestServer;
const { settle } = runHelpers(() => server);
let templateId: string;

const cli = cliAgainst(() => server);

beforeAll(async () => {
  server = await startTestServer();
  const created = await server.request("POST", `${API}/templates`, {
    body: {
      name: `Rollout API ${randomUUID().slice(0, 8)}`,
      category: "custom",
      settings: { features: ["inventory"] },
      limits: { maxUsers: 10 },
      initialData: {},
      migrations: ["core"],
      postProvisioningSteps: [],
    },
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  templateId = created.body.id;
  const run = await server.request("POST", `${API}/templates/${templateId}/provision`, {
    body: provisionBody(`rapi-${randomUUID().slice(0, 8)}`, `Pelican!${randomUUID()}`),
  });
  expect((await settle(run.body.id)).status).toBe("completed");
  const updated = await server.request("PUT", `${API}/templates/${templateId}`, {
    body: { migrations: ["core", "inventory"] },
  });
  expect(updated.status).toBe(200);
});

afterAll(async () => {
  await server?.close();
});

describe("POST /rollouts", () => {
  it.each([
    ["templateId", { templateId: "not-a-uuid" }],
    ["maxConcurrency", { maxConcurrency: 41 }],
    ["maxConcurrency", { maxConcurrency: 0 }],
    ["waveSize", { waveSize: 0 }],
    ["toleratedFailurePercent", { toleratedFailurePercent: 101 }],
    ["canary", { canary: -1 }],
    ["canary", { canary: ["a", "a"] }],
    ["targetVersion", { targetVersion: 0 }],
    ["pauseAfterCanary", { pauseAfterCanary: "yes" }],
  ])("is a 400 naming %s for %j", async (field, change) => {
    const res = await server.request("POST", ROLLOUTS, { body: { templateId, dryRun: true, ...change } });
    expectApiError(res, 400, { code: "validation_error", field });
  });

  it("refuses unknown fields, unknown templates and versions, and calls without a key", async () => {
    const unknownField = await server.request("POST", ROLLOUTS, { body: { templateId, waves: 3 } });
    const unknownTemplate = await server.request("POST", ROLLOUTS, { body: { templateId: randomUUID() } });
    const unknownVersion = await server.request("POST", ROLLOUTS, { body: { templateId, targetVersion: 9 } });
    const noKey = await server.request("POST", ROLLOUTS, { body: { templateId }, key: null });
    const unknownRollout = await server.request("GET", `${ROLLOUTS}/${randomUUID()}`);
    const pauseUnknown = await server.request("POST", `${ROLLOUTS}/${randomUUID()}/pause`);

    expectApiError(unknownField, 400, { code: "validation_error" });
    expectApiError(unknownTemplate, 404, { code: "not_found" });
    expectApiError(unknownVersion, 404, { code: "not_found" });
    expectApiError(noKey, 401, { code: "unauthorized" });
    expectApiError(unknownRollout, 404, { code: "not_found" });
    expectApiError(pauseUnknown, 404, { code: "not_found" });
  });
});

describe("tenant-provisioning rollout", () => {
  it("plans, starts, shows, lists; names bad flags and unknown rollouts", async () => {
    // Act
    const badFlag = await cli("rollout", "plan", "--template", templateId, "--max-concurrency", "many");
    const plan = await cli("--json", "rollout", "plan", "--template", templateId, "--canary", "0");
    const human = await cli("rollout", "plan", "--template", templateId);
    const started = await cli("--json", "rollout", "start", "--template", templateId, "--watch");
    const rollout = rolloutSchema.parse(JSON.parse(started.stdout));
    const shown = await cli("rollout", "show", rollout.id);
    const listed = await cli("--json", "rollout", "list", "--template", templateId);
    const abortDone = await cli("rollout", "abort", rollout.id);
    const missing = await cli("rollout", "show", randomUUID());

    // Assess
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toContain("--max-concurrency");
    expect(plan.code, plan.stderr).toBe(0);
    const parsed = rolloutPlanSchema.parse(JSON.parse(plan.stdout));
    expect(parsed.waves.map((w) => w.canary)).toEqual([false]);
    expect(parsed.changes["1"]?.migrations).toEqual(["inventory"]);
    expect(human.stdout).toContain("from v1: migrations inventory");
    expect(human.stdout).toContain("wave 1 (canary)");
    expect(started.code, started.stderr).toBe(0);
    expect(rollout.status).toBe("completed");
    expect(rollout.counts.upgraded).toBe(1);
    expect(shown.stdout).toMatch(/1 \(canary\)\s+rapi-\w+\s+v1\s+upgraded/);
    expect(rolloutPageSchema.parse(JSON.parse(listed.stdout)).items.map((r) => r.id)).toEqual([rollout.id]);
    expect(abortDone.code).toBe(1);
    expect(abortDone.stderr).toContain("completed");
    expect(missing.code).toBe(3);
  });
});
