/**
 * The web console in a real browser: playwright-core drives Debian's Chromium (installed by
 * `.ci/run`; never downloaded by Playwright) against the local service on a fresh database. The
 * operator enters the admin key, starts a provisioning of "Basic School System" through the form,
 * lands on the run page and watches the state machine graph reach completed. A screenshot of the
 * run page is kept in test-artifacts/.
 */
import { mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../support/server.ts";

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

let server: TestServer;
let context: BrowserContext;
let page: Page;
let userDataDir: string;
const pageErrors: string[] = [];

beforeAll(async () => {
  server = await startTestServer();
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
