/**
 * The web console in a real browser: playwright-core drives Debian's Chromium (installed by
 * `.ci/run`; never downloaded by Playwright) against one local service on a fresh database, every
 * page in turn: sign-in, templates, a provisioning through the form watched to completion on its
 * state machine graph, the runs list (tenant names, filters), tenants, a deprovisioning with a
 * grace period (the dialog's defaults are the API's; the run shows when the data goes), the
 * actions offered for each run state, a rollout paused after its canary and resumed from its
 * page, statistics, alerts, a tenant_admin session, a slow API while the operator moves on
 * (nothing stale drawn), and a 420 px wide screen. Workflows' Wait
 * states last ten minutes, so a grace period is running whenever the test looks.
 */
import { mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { eq, sql } from "drizzle-orm";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditLogs } from "../../functions/db/schema.ts";
import { DEFAULT_GRACE_PERIOD_HOURS } from "../../functions/schemas/deprovisioning.ts";
import { failInserts, tenantWithSlug } from "../support/fault-injection.ts";
import { provisionBody } from "../support/provision-body.ts";
import { startTestServer, type TestServer } from "../support/server.ts";
import { sleep, until } from "../support/wait.ts";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const ARTIFACTS = join(REPO, "test-artifacts");
const SCREENSHOT = join(ARTIFACTS, "console-run.png");
const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-quic",
  "--no-first-run",
  "--disable-component-update",
  "--disable-sync",
];
const DEFAULT_TEMPLATES = ["Basic School System", "Municipality", "School District"];
const PROVISIONING_STATES = [
  "CreateTenant",
  "CreateAdminUser",
  "RunMigrations",
  "SetupConfigurations",
  "CreateInitialData",
  "PostProvisioningSteps",
];
/** Generous: two shared cores run the service, the browser and other suites at once. */
const UI_TIMEOUT = 60_000;

const API = "/api/provisioning";

let server: TestServer;
let context: BrowserContext;
let page: Page;
let userDataDir: string;
const pageErrors: string[] = [];
/** The tenant the form provisions ("Browser Test School") and its run. */
let school: { tenantId: string; runId: string };
/** A provisioning made to fail (its admin user's insert raises a check violation). */
let failed: { tenantId: string; runId: string; slug: string };

beforeAll(async () => {
  // Every Wait lasts ten minutes: a deprovisioning's grace period is still running when looked at.
  server = await startTestServer({ waitTimeOverrideMs: 600_000 });
  userDataDir = mkdtempSync(join(tmpdir(), "tp-chromium-"));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    headless: true,
    viewport: { width: 1360, height: 900 },
    deviceScaleFactor: 1,
    locale: "en-GB",
    timezoneId: "Europe/Helsinki",
  });
  context.setDefaultTimeout(UI_TIMEOUT);
  page = context.pages()[0] ?? (await context.newPage());
  page.on("pageerror", (error) => pageErrors.push(String(error)));
  page.on("console", (message) => {
    if (message.type() === "error") pageErrors.push(message.text());
  });
}, 120_000);

afterAll(async () => {
  await context?.close();
  await server?.close();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
});

describe("static files", () => {
  it("serves the console at / with content types and a CSP, and nothing outside console/", async () => {
    // Prepare: the service is up. Act: fetch the console's files and some hostile paths.
    const index = await fetch(`${server.url}/`);
    const script = await fetch(`${server.url}/app.js`);
    const styles = await fetch(`${server.url}/styles.css`);
    const hostile = await Promise.all(
      [
        "/../package.json",
        "/%2e%2e/package.json",
        "/..%2fpackage.json",
        "/%2e%2e%2flocal%2fapp.ts",
        "/..%5cpackage.json",
        "/app.js%00.css",
        "/nope.html",
      ].map(async (path) => {
        const res = await fetch(`${server.url}${path}`);
        await res.arrayBuffer();
        return [path, res.status] as const;
      }),
    );

    // Assess
    expect(index.status).toBe(200);
    expect(index.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(index.headers.get("content-security-policy")).toContain("default-src 'self'");
    expect(await index.text()).toContain('<script type="module" src="app.js">');
    expect(script.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(styles.headers.get("content-type")).toBe("text/css; charset=utf-8");
    await script.arrayBuffer();
    await styles.arrayBuffer();
    for (const [path, status] of hostile) expect({ path, status }).toEqual({ path, status: 404 });
  });
});

// Generous: the provisioning runs on two shared cores next to the browser and other suites.
describe("web console", { timeout: 180_000 }, () => {
  it("signs in with the admin key and lists the default templates", async () => {
    // Act: open the console; it asks for a key first.
    await page.goto(`${server.url}/`);
    await page.getByTestId("key-input").fill(server.adminKey);
    await page.getByTestId("key-submit").click();
    await page.getByTestId("runs-table").waitFor();
    await page.getByTestId("nav-templates").click();
    await page.getByTestId("templates-table").waitFor();

    // Assess
    const names = await page
      .getByTestId("template-row")
      .evaluateAll((rows) => rows.map((row) => row.getAttribute("data-name")));
    expect(names.sort()).toEqual(DEFAULT_TEMPLATES);
    const stored = await page.evaluate(() => sessionStorage.getItem("tenant-provisioning.apiKey"));
    expect(stored).toBe(server.adminKey);
  });

  it("starts a provisioning through the form and shows its graph reach completed", async () => {
    // Prepare: the new-provisioning form with Basic School System.
    await page.getByTestId("nav-provision").click();
    const select = page.getByTestId("provision-template");
    await select.waitFor();
    await select.selectOption({ label: await optionLabel(page, "Basic School System") });

    // Act: fill and submit.
    await page.getByTestId("provision-name").fill("Browser Test School");
    await page.getByTestId("provision-slug").fill("browser-test-school");
    await page.getByTestId("provision-subdomain").fill("browser-test-school");
    await page.getByTestId("provision-adminName").fill("Ada Admin");
    await page.getByTestId("provision-adminEmail").fill("ada.admin@browser-test.example");
    await page.getByTestId("provision-adminPassword").fill("a long enough password");
    await page.getByTestId("provision-submit").click();

    // Assess: the run page, its graph drawn from the ASL, every step state completed.
    await page.waitForURL(/#\/runs\/[0-9a-f-]{36}$/);
    await page.getByTestId("workflow-graph").waitFor();
    for (const state of PROVISIONING_STATES) {
      await page
        .locator(`[data-testid=state-${state}][data-status=completed]`)
        .waitFor({ timeout: UI_TIMEOUT });
    }
    await page.locator("[data-testid=run-status-badge][data-status=completed]").waitFor();
    await page.locator("[data-testid=state-Provisioned][data-status=completed]").waitFor();
    const runId = page.url().split("/").pop()!;
    const api = await server.request("GET", `/api/provisioning/progress/${runId}`);
    expect(api.body.status).toBe("completed");
    school = { tenantId: api.body.tenantId, runId };
    expect(api.body.metadata.tenant.slug).toBe("browser-test-school");
    const stepStatuses = await page
      .locator("[data-testid^=step-row-]")
      .evaluateAll((rows) => rows.map((r) => r.getAttribute("data-status")));
    expect(stepStatuses).toEqual(PROVISIONING_STATES.map(() => "completed"));
    expect(await page.getByTestId("state-status-CreateTenant").textContent()).toMatch(
      /completed · 1 attempt/,
    );

    mkdirSync(ARTIFACTS, { recursive: true });
    rmSync(SCREENSHOT, { force: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(statSync(SCREENSHOT).size).toBeGreaterThan(20_000);
    expect(pageErrors).toEqual([]);
  });
});

describe("every page", { timeout: 180_000 }, () => {
  beforeAll(async () => {
    // A provisioning that fails for good: inserting its admin user is a check violation.
    const slug = "browser-failing";
    await failInserts((statement) => server.database.db.execute(sql.raw(statement)), {
      name: "console_fail_admin",
      table: "users",
      when: `NEW.role = 'tenant_admin' AND ${tenantWithSlug(slug)}`,
      sqlstate: "23514",
      message: "'injected failure for %', NEW.email",
    });
    const templates = await server.request("GET", `${API}/templates`);
    const basic = templates.body.items.find((t: any) => t.name === "Basic School System");
    const res = await server.request("POST", `${API}/templates/${basic.id}/provision`, {
      body: provisionBody(slug, "a long enough password"),
    });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const run = await until(
      "the failing provisioning to fail",
      async () => (await server.request("GET", `${API}/progress/${res.body.id}`)).body,
      (r) => r.status === "failed",
    );
    failed = { tenantId: run.tenantId, runId: run.id, slug };
  });

  it("lists runs by their tenant's name and slug, and filters them by status, kind and tenant", async () => {
    // Act
    await page.goto(`${server.url}/#/runs`);
    await page.locator(`[data-testid=run-row][data-run-id="${failed.runId}"]`).waitFor();

    // Assess: names, not "Run 1234abcd"
    const tenantCells = await page.getByTestId("run-tenant").allTextContents();
    expect(
      tenantCells.some((t) => t.includes("Browser Test School") && t.includes("browser-test-school")),
    ).toBe(true);
    expect(tenantCells.some((t) => t.includes(failed.slug))).toBe(true);
    expect(tenantCells.join(" ")).not.toMatch(/Run [0-9a-f]{8}/);

    // Act: filter by status
    await page.getByTestId("filter-status").selectOption("failed");
    await page.waitForURL(/status=failed/);
    await until(
      "the failed runs only",
      () =>
        page
          .locator("[data-testid=run-row]")
          .evaluateAll((rows) => rows.map((r) => r.getAttribute("data-status"))),
      (statuses) => statuses.length > 0 && statuses.every((st) => st === "failed"),
    );

    // Act: by tenant, then a kind that tenant has no run of
    await page.getByTestId("nav-runs").click();
    await page.waitForURL(/#\/runs$/);
    await page.getByTestId("filter-tenant").selectOption(school.tenantId);
    await page.waitForURL(new RegExp(`tenant=${school.tenantId}`));
    await until(
      "the school's runs only",
      () =>
        page
          .locator("[data-testid=run-row]")
          .evaluateAll((rows) => rows.map((r) => r.getAttribute("data-run-id"))),
      (ids) => ids.length === 1 && ids[0] === school.runId,
    );
    await page.getByTestId("filter-kind").selectOption("restore");
    await page.waitForURL(/kind=restore/);
    await page.getByText("No runs match.").waitFor();
    expect(page.url()).toContain(`tenant=${school.tenantId}`);
  });

  it("lists tenants with their template and shows one with its runs", async () => {
    // Act
    await page.getByTestId("nav-tenants").click();
    const row = page.locator(`[data-testid=tenant-row][data-tenant-id="${school.tenantId}"]`);
    await row.waitFor();
    const rowText = await row.textContent();
    await row.getByRole("link", { name: "Browser Test School" }).click();
    await page.getByTestId("tenant-title").waitFor();

    // Assess
    expect(rowText).toContain("browser-test-school");
    expect(rowText).toContain("Basic School System");
    // The only cell of a deployment without TENANT_CELLS.
    expect(await page.getByTestId("tenant-cell").textContent()).toBe("main");
    expect(await page.getByTestId("tenant-title").textContent()).toBe("Browser Test School");
    expect(await page.getByTestId("tenant-status").textContent()).toBe("active");
    expect(await page.getByTestId("tenant-run-row").count()).toBe(1);
    await page.getByTestId("action-deprovision").waitFor();
  });

  it("deprovisions with the API's safe defaults, says what will be left, and shows when the data goes", async () => {
    // Act: open the dialog from the tenant page
    await page.getByTestId("action-deprovision").click();
    const dialog = page.getByTestId("confirm-dialog");
    await dialog.waitFor();

    // Assess: the defaults are the API's (keep the backup, a grace period)
    expect(await page.getByTestId("deprovision-gracePeriodHours").inputValue()).toBe(
      String(DEFAULT_GRACE_PERIOD_HOURS),
    );
    expect(await page.getByTestId("deprovision-preserveBackups").isChecked()).toBe(true);
    expect(await page.getByTestId("deprovision-preserveAuditLogs").isChecked()).toBe(false);
    const said = await page.getByTestId("deprovision-consequences").textContent();
    expect(said).toContain(`after a ${DEFAULT_GRACE_PERIOD_HOURS} h grace period`);
    expect(said).toContain("kept: the tenant can be restored");
    expect(await dialog.locator("#confirm-title").textContent()).toBe("Deprovision Browser Test School?");

    // Act: a grace period of 48 h, the rest as offered
    await page.getByTestId("deprovision-gracePeriodHours").fill("48");
    expect(await page.getByTestId("deprovision-consequences").textContent()).toContain(
      "after a 48 h grace period",
    );
    const requested = Date.now();
    await page.getByTestId("confirm-ok").click();
    await page.waitForURL(/#\/runs\/[0-9a-f-]{36}$/);
    const runId = page.url().split("/").pop()!;
    await page.locator("[data-testid=state-DisableAccess][data-status=completed]").waitFor();
    const ends = page.getByTestId("grace-period-ends");
    await ends.waitFor();

    // Assess: the run page names the tenant, when the data goes, and the options chosen
    expect(await page.getByTestId("run-title").textContent()).toBe("Browser Test School");
    const deleteAfter = Date.parse((await ends.getAttribute("data-delete-after"))!);
    expect(deleteAfter - requested).toBeGreaterThan(48 * 3600_000 - 60_000);
    expect(deleteAfter - requested).toBeLessThan(48 * 3600_000 + 60_000);
    const options = page.getByTestId("deprovision-options");
    expect(await options.locator("[data-option=gracePeriodHours] dd").textContent()).toBe("48");
    expect(await options.locator("[data-option=preserveBackups] dd").textContent()).toBe("yes");
    expect(await options.locator("[data-option=preserveAuditLogs] dd").textContent()).toBe("no");
    const api = (await server.request("GET", `${API}/progress/${runId}`)).body;
    expect(api.metadata.options).toMatchObject({ gracePeriodHours: 48, preserveBackups: true });
    expect(api.metadata.access.deleteAfter).toBe(new Date(deleteAfter).toISOString().replace(/\.000Z$/, "Z"));

    // Assess: the runs list names the deprovisioning's tenant too
    await page.getByTestId("nav-runs").click();
    const row = page.locator(`[data-testid=run-row][data-run-id="${runId}"]`);
    await row.waitFor();
    expect(await row.getByTestId("run-tenant").textContent()).toContain("Browser Test School");
    await row.getByRole("link").first().click();
    await page.getByTestId("action-cancel").waitFor();
  });

  it("offers only the actions that can succeed for the run's kind and state", async () => {
    // Act: cancel the deprovisioning during its grace period (access is given back)
    await page.getByTestId("action-cancel").click();
    await page.getByTestId("confirm-ok").click();
    await page.locator("[data-testid=run-status-badge][data-status=cancelled]").waitFor();
    const runId = page.url().split("/").pop()!;
    await page.getByTestId("deprovision-facts").getByText("access given back").waitFor();

    // Assess: a cancelled deprovisioning whose access was given back: no clean up, recover or retry
    const toolbarButtons = async () =>
      page
        .locator("[role=toolbar] button, [data-testid^=action-retry-]")
        .evaluateAll((els) => els.map((e) => e.getAttribute("data-testid")));
    expect(await toolbarButtons()).toEqual([]);
    expectApiRefuses(await server.request("POST", `${API}/progress/${runId}/cleanup`));

    // Assess: the active tenant's kept backup is listed without a Restore button
    await page.goto(`${server.url}/#/tenants/${school.tenantId}`);
    await page.getByTestId("backup-row").first().waitFor();
    expect(await page.getByTestId("tenant-status").textContent()).toBe("active");
    expect(await page.locator("[data-testid^=restore-]").count()).toBe(0);
    const backups = (await server.request("GET", `${API}/tenants/${school.tenantId}/backups`)).body.items;
    expectApiRefuses(
      await server.request("POST", `${API}/tenants/${school.tenantId}/restore`, {
        body: { backupId: backups[0].id },
      }),
    );

    // Assess: a failed provisioning offers recover, clean up and a retry of its failed step
    await page.goto(`${server.url}/#/runs/${failed.runId}`);
    await page.getByTestId("action-recover").waitFor();
    expect((await toolbarButtons()).sort()).toEqual(
      ["action-cleanup", "action-recover", "action-retry-create-admin-user"].sort(),
    );
    await page.getByTestId("action-cleanup").click();
    await page.getByTestId("confirm-ok").click();
    await page.getByTestId("run-cleaned-up").waitFor();
    await until("the buttons to go", toolbarButtons, (buttons) => buttons.length === 0);
  });

  it("lists deleted templates and restores one", async () => {
    // Prepare: a template deleted through the API
    const created = await server.request("POST", `${API}/templates`, {
      body: { name: "Browser Restorable", category: "custom", migrations: ["core"] },
    });
    await server.request("DELETE", `${API}/templates/${created.body.id}`);

    // Act: show the deleted ones, restore it
    await page.getByTestId("nav-templates").click();
    await page.getByTestId("templates-table").waitFor();
    expect(await page.locator(`[data-template-id="${created.body.id}"]`).count()).toBe(0);
    await page.getByTestId("template-state").selectOption("deleted");
    await page.waitForURL(/#\/templates\?state=deleted$/);
    await page.getByTestId(`restore-template-${created.body.id}`).click();
    await page.getByTestId("confirm-ok").click();
    // The deleted list is drawn again without it.
    await page.locator(`[data-template-id="${created.body.id}"]`).waitFor({ state: "detached" });
    await page.getByTestId("template-state").selectOption("active");

    // Assess: listed again, and usable
    await page.locator(`[data-template-id="${created.body.id}"]`).waitFor();
    expect((await server.request("GET", `${API}/templates/${created.body.id}`)).body.deletedAt).toBeNull();
  });

  it("shows a rollout paused after its canary wave, resumes it and watches every wave complete", async () => {
    // Prepare: two tenants on version 1 of a small template; version 2 adds a tenant migration;
    // a rollout that pauses after its canary (one tenant).
    const template = await server.request("POST", `${API}/templates`, {
      body: { name: "Browser Rollout", category: "custom", migrations: ["core"] },
    });
    expect(template.status, JSON.stringify(template.body)).toBe(201);
    const tenantIds: string[] = [];
    for (const slug of ["browser-ro-a", "browser-ro-b"]) {
      const res = await server.request("POST", `${API}/templates/${template.body.id}/provision`, {
        body: provisionBody(slug, "a long enough password"),
      });
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      const run = await until(
        `${slug} to be provisioned`,
        async () => (await server.request("GET", `${API}/progress/${res.body.id}`)).body,
        (r) => r.status === "completed",
      );
      tenantIds.push(run.tenantId);
    }
    const v2 = await server.request("PUT", `${API}/templates/${template.body.id}`, {
      body: { migrations: ["core", "analytics"] },
    });
    expect(v2.status, JSON.stringify(v2.body)).toBe(200);
    const started = await server.request("POST", `${API}/rollouts`, {
      body: {
        templateId: template.body.id,
        canary: 1,
        waveSize: 1,
        maxConcurrency: 1,
        pauseAfterCanary: true,
      },
    });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    const rolloutId = started.body.id as string;
    await until(
      "the rollout to pause after its canary",
      async () => (await server.request("GET", `${API}/rollouts/${rolloutId}`)).body,
      (r) => r.status === "paused",
    );

    // Act: from the rollout's run to its page
    await page.goto(`${server.url}/#/runs/${rolloutId}`);
    await page.getByTestId("run-rollout-link").click();
    await page.waitForURL(new RegExp(`#/rollouts/${rolloutId}$`));
    await page.locator("[data-testid=rollout-status][data-status=paused]").waitFor();

    // Assess: the canary wave upgraded, with its upgrade run; the second wave waiting
    const wavesShown = () =>
      page.locator("[data-testid=rollout-wave]").evaluateAll((waves) =>
        waves.map((w) => ({
          wave: w.getAttribute("data-wave"),
          tenants: Array.from(w.querySelectorAll("[data-testid=rollout-tenant]")).map((t) =>
            t.getAttribute("data-status"),
          ),
        })),
      );
    expect(await wavesShown()).toEqual([
      { wave: "1", tenants: ["upgraded"] },
      { wave: "2", tenants: ["pending"] },
    ]);
    expect(await page.locator("[data-testid=rollout-wave][data-wave='1'] h3").textContent()).toContain(
      "canary",
    );
    expect(await page.getByTestId("rollout-upgrade-link").count()).toBe(1);
    const buttons = () =>
      page
        .locator("[role=toolbar] button")
        .evaluateAll((els) => els.map((e) => e.getAttribute("data-testid")));
    expect(await buttons()).toEqual(["rollout-resume", "rollout-abort"]);

    // Act: resume
    await page.getByTestId("rollout-resume").click();
    await page.getByTestId("confirm-ok").click();
    await page.locator("[data-testid=rollout-status][data-status=completed]").waitFor();

    // Assess: both waves upgraded, no action left, and the API agrees
    await until("the second wave to be drawn upgraded", wavesShown, (waves) =>
      waves.every((w) => w.tenants.every((t) => t === "upgraded")),
    );
    expect(await buttons()).toEqual([]);
    const done = (await server.request("GET", `${API}/rollouts/${rolloutId}`)).body;
    expect(done.status).toBe("completed");
    expect(done.counts).toMatchObject({ upgraded: 2, pending: 0, failed: 0 });
  });

  it("shows statistics that match the API", async () => {
    // Act
    await page.getByTestId("nav-stats").click();
    await page.getByTestId("kpi-runs").waitFor();
    const stats = (await server.request("GET", `${API}/stats`)).body;

    // Assess
    expect(await page.getByTestId("kpi-runs").locator(".kpi-value").textContent()).toBe(
      String(stats.totals.runs),
    );
    await page.getByTestId("chart-template-success").waitFor();
    await page.getByTestId("chart-step-failures").waitFor();
  });

  it("lists the cells and closes and opens one", async () => {
    // Act
    await page.getByTestId("nav-cells").click();
    const row = page.locator("[data-testid=cell-row][data-cell=main]");
    await row.waitFor();
    await page.getByTestId("close-cell-main").click();
    await page.getByTestId("confirm-ok").click();
    await page.getByTestId("open-cell-main").click();
    await page.getByTestId("confirm-ok").click();
    await page.getByTestId("close-cell-main").waitFor();

    // Assess: closed, then open again (the tests after this one provision on it)
    const closes = await server.database.db.select().from(auditLogs).where(eq(auditLogs.targetId, "main"));
    expect(closes.map((a) => a.action)).toEqual(["cell.close", "cell.open"]);
    expect(await row.getByTestId("cell-state").textContent()).toBe("open");
    expect(pageErrors).toEqual([]);
  });

  it("lists the sweep's alerts and resolves one", async () => {
    // Prepare: the sweep raises an alert for the failed run
    await server.app.sweeper.runOnce();
    const alerts = (await server.request("GET", `${API}/alerts`)).body.items;
    const alert = alerts.find((a: any) => a.kind === "run_failed" && a.subjectId === failed.runId);
    expect(alert, JSON.stringify(alerts)).toBeDefined();

    // Act
    await page.getByTestId("nav-alerts").click();
    const row = page.locator(`[data-testid=alert-row][data-alert-id="${alert.id}"]`);
    await row.waitFor();
    expect(await row.textContent()).toContain(alert.message);
    await page.getByTestId(`resolve-${alert.id}`).click();
    await page.getByTestId("confirm-ok").click();

    // Assess
    await row.waitFor({ state: "detached" });
    const resolved = (await server.request("GET", `${API}/alerts?state=resolved`)).body.items;
    expect(resolved.map((a: any) => a.id)).toContain(alert.id);
    expect(pageErrors).toEqual([]);
  });

  it("gives a tenant_admin key its own tenant's pages and no admin page or action", async () => {
    // Prepare: a key for the school, signed in on a tab of its own (its own session storage)
    const key = (
      await server.request("POST", `${API}/keys`, {
        body: { name: "school admin", role: "tenant_admin", tenantId: school.tenantId },
      })
    ).body.key;
    const tab = await context.newPage();
    const errors: string[] = [];
    tab.on("pageerror", (error) => errors.push(String(error)));
    try {
      // Act
      await tab.goto(`${server.url}/`);
      await tab.getByTestId("key-input").fill(key);
      await tab.getByTestId("key-submit").click();
      await tab.getByTestId("runs-table").waitFor();
      await tab.locator("[data-testid=run-row]").first().waitFor();

      // Assess: the nav offers what the role may call, the lists hold only its tenant
      const nav = await tab
        .locator("#nav a")
        .evaluateAll((as) => as.map((a) => a.getAttribute("data-testid")));
      expect(nav).toEqual(["nav-runs", "nav-tenants"]);
      expect(await tab.getByTestId("new-provisioning").count()).toBe(0);
      const tenants = await tab.locator("[data-testid=run-row]").evaluateAll((rows) => rows.length);
      expect(tenants).toBe(2);
      expect(
        (await tab.getByTestId("run-tenant").allTextContents()).every((t) =>
          t.includes("Browser Test School"),
        ),
      ).toBe(true);

      // Assess: a run and the tenant, without any action or error
      await tab.goto(`${server.url}/#/runs/${school.runId}`);
      await tab.locator("[data-testid=run-status-badge][data-status=completed]").waitFor();
      await tab.getByTestId("workflow-graph").waitFor();
      expect(await tab.locator("[role=toolbar] button").count()).toBe(0);
      await tab.goto(`${server.url}/#/tenants/${school.tenantId}`);
      await tab.getByTestId("tenant-title").waitFor();
      expect(await tab.getByTestId("action-deprovision").count()).toBe(0);
      expect(await tab.getByTestId("backup-row").count()).toBe(0);
      for (const hash of ["#/stats", "#/alerts", "#/templates", "#/provision"]) {
        await tab.goto(`${server.url}/${hash}`);
        await tab.getByText("Not available with this key").waitFor();
      }
      expect(await tab.getByTestId("page-error").count()).toBe(0);
      expect(errors).toEqual([]);
    } finally {
      await tab.close();
    }
  });

  it("never draws a page the operator has already left, however slow the API", async () => {
    // Prepare: the tenant list (which the runs page waits for) answers after 1.5 s, the rest at once
    let listRequestsAfterLeaving = 0;
    let left = false;
    await page.route("**/api/provisioning/**", async (route) => {
      const url = new URL(route.request().url());
      if (left && url.pathname === `${API}/progress`) listRequestsAfterLeaving += 1;
      if (url.pathname === `${API}/tenants`) await sleep(1500);
      await route.continue().catch(() => {
        // aborted by the console meanwhile: nothing to continue
      });
    });
    try {
      for (let attempt = 0; attempt < 2; attempt++) {
        // Act: land on Runs, and move to Templates before it has its data
        await page.goto(`${server.url}/#/alerts`);
        await page.getByRole("heading", { name: "Alerts" }).waitFor();
        await page.getByTestId("nav-runs").click();
        await sleep(200);
        await page.getByTestId("nav-templates").click();
        left = true;
        await page.getByTestId("templates-table").waitFor();
        await sleep(2500);

        // Assess: the Templates page stays; the Runs page neither drew nor polls
        expect(page.url()).toMatch(/#\/templates$/);
        expect(await page.getByTestId("templates-table").count()).toBe(1);
        expect(await page.getByTestId("runs-table").count()).toBe(0);
        expect(await page.title()).toMatch(/^Templates/);
        expect(listRequestsAfterLeaving).toBe(0);
        left = false;
      }
    } finally {
      await page.unrouteAll({ behavior: "ignoreErrors" });
    }
  });

  it("fits its header into a 420 px wide screen", async () => {
    // Act
    await page.setViewportSize({ width: 420, height: 800 });
    try {
      await page.goto(`${server.url}/#/runs`);
      await page.getByTestId("runs-table").waitFor();
      const layout = await page.evaluate(() => {
        const header = document.querySelector(".topbar")!.getBoundingClientRect();
        const inside = Array.from(document.querySelectorAll(".topbar a, .topbar button, .topbar span"))
          .filter((el) => (el as HTMLElement).offsetParent !== null)
          .map((el) => {
            const r = el.getBoundingClientRect();
            return {
              text: el.textContent?.trim(),
              left: r.left,
              right: r.right,
              top: r.top,
              bottom: r.bottom,
            };
          });
        return {
          header: { left: header.left, right: header.right, top: header.top, bottom: header.bottom },
          inside,
          viewport: document.documentElement.clientWidth,
          scrollWidth: document.documentElement.scrollWidth,
        };
      });

      // Assess: nothing of the header beyond the screen or below its blue bar
      expect(layout.inside.length).toBeGreaterThan(6);
      for (const el of layout.inside) {
        expect(el.left, el.text).toBeGreaterThanOrEqual(0);
        expect(el.right, el.text).toBeLessThanOrEqual(layout.viewport);
        expect(el.top, el.text).toBeGreaterThanOrEqual(layout.header.top);
        expect(el.bottom, el.text).toBeLessThanOrEqual(layout.header.bottom);
      }
      expect(layout.header.right).toBeLessThanOrEqual(layout.viewport);
      expect(layout.scrollWidth).toBeLessThanOrEqual(layout.viewport);
    } finally {
      await page.setViewportSize({ width: 1360, height: 900 });
    }
  });
});

/** The API refuses an action the console did not offer (so not offering it was right). */
function expectApiRefuses(res: { status: number }): void {
  expect(res.status).toBe(409);
}

/** The option text for a template name (the select shows `name (vN)`). */
async function optionLabel(p: Page, name: string): Promise<string> {
  const labels = await p
    .getByTestId("provision-template")
    .locator("option")
    .evaluateAll((options) => options.map((o) => o.textContent ?? ""));
  const label = labels.find((l) => l.startsWith(`${name} (`));
  if (!label) throw new Error(`no template option for ${name}: ${labels.join(", ")}`);
  return label;
}
