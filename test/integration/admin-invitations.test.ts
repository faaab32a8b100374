/**
 * Provisioning without an admin password, through HTTP on the database TEST_DATABASE names: the
 * admin is created with no password and invited by the welcome notification (delivered by SMTP to
 * a real in-process server), whose set-password link works once, stops working when it expires,
 * and whose token is stored only as its sha256.
 */
import { createHash, randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import { sql } from "drizzle-orm";
import { SMTPServer } from "smtp-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { safeIdentifier } from "../../functions/db/sql.ts";
import { verifyPassword } from "../../functions/domain/auth/password.ts";
import { ConfigError, loadConfig } from "../../functions/shared/config.ts";
import { expectApiError } from "../support/api-errors.ts";
import { provisionBody } from "../support/provision-body.ts";
import { API, runHelpers, schemaOf } from "../support/runs.ts";
import { type HttpResult, startTestServer, type TestServer } from "../support/server.ts";
import { until } from "../support/wait.ts";

const BASE_URL = "https://app.example.org/set-password?lang=en";
const ACCEPT = `${API}/invitations/accept`;
const NEW_PASSWORD = `Heron!Basalt-${randomUUID().slice(0, 8)}-Meadow`;
const TTL_HOURS = 2;

interface Received {
  readonly to: string[];
  readonly raw: string;
}

/** The message's text with quoted-printable soft breaks and escapes undone. */
function decoded(raw: string): string {
  return raw
    .replace(/=\r?\n/g, "")
    .replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

let smtp: SMTPServer;
let server: TestServer;
const received: Received[] = [];
/** Added to the service's clock (to let an invitation expire). */
let clockOffsetMs = 0;
const runs = runHelpers(() => server);
const { provision, settle, rows, countOf, tablesOf } = runs;

const slugOf = () => `inv-${randomUUID().slice(0, 8)}`;

/** A provision request body without `adminPassword`. */
function invitedBody(slug: string): Record<string, unknown> {
  const { adminPassword: _none, ...body } = provisionBody(slug, "unused-password-x");
  return body;
}

/** Provisions an invited admin; returns the run and the link the welcome message carried. */
async function provisionInvited(slug: string): Promise<{ run: any; link: URL; mail: string }> {
  const accepted = await provision("Basic School System", invitedBody(slug));
  const run = await settle(accepted.id);
  expect(run.status).toBe("completed");
  const mail = await until(
    "the welcome message to arrive",
    async () => received.find((m) => m.to.includes(`admin@${slug}.example.org`)),
    (m) => m !== undefined,
  );
  const text = decoded(mail!.raw);
  const found = /https:\/\/app\.example\.org\/set-password\?[^\s<"]+/.exec(text);
  expect(found, text).not.toBeNull();
  return { run, link: new URL(found![0]), mail: text };
}

async function adminOf(tenantId: string): Promise<{ id: string; password_hash: string | null }> {
  const [admin] = await rows<{ id: string; password_hash: string | null }>(
    sql`SELECT id::text AS id, password_hash FROM users WHERE tenant_id = ${tenantId}::uuid AND role = 'tenant_admin'`,
  );
  return admin!;
}

beforeAll(async () => {
  smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS"],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        received.push({
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString("utf8"),
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => smtp.listen(0, "127.0.0.1", resolve));
  const { port } = smtp.server.address() as AddressInfo;
  server = await startTestServer({
    clock: () => new Date(Date.now() + clockOffsetMs),
    env: {
      SMTP_URL: `smtp://127.0.0.1:${port}`,
      NOTIFICATION_SENDER: "no-reply@provisioning.test",
      OUTBOX_DRAIN_INTERVAL_MS: "200",
      INVITATION_BASE_URL: BASE_URL,
      INVITATION_TTL_HOURS: String(TTL_HOURS),
    },
  });
});

afterAll(async () => {
  await server?.close();
  await new Promise<void>((resolve) => smtp?.close(() => resolve()));
});

describe("provisioning without an admin password", { timeout: 180_000 }, () => {
  it("invites the admin: the link sets the password once; the token is stored only hashed", async () => {
    // Prepare / Act
    const slug = slugOf();
    const { run, link, mail } = await provisionInvited(slug);
    const token = link.searchParams.get("token")!;

    // Assess: the admin exists without a password; the link is the configured page plus the token
    const admin = await adminOf(run.tenantId);
    expect(admin.password_hash).toBeNull();
    expect(`${link.origin}${link.pathname}`).toBe("https://app.example.org/set-password");
    expect(link.searchParams.get("lang")).toBe("en");
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(mail).toContain("The link works once");
    const [invitation] = await rows<{ token_hash: string; expires_at: unknown; issued_at: unknown }>(
      sql`SELECT token_hash, expires_at, issued_at FROM admin_invitations WHERE tenant_id = ${run.tenantId}::uuid`,
    );
    expect(invitation!.token_hash).toBe(createHash("sha256").update(token).digest("hex"));
    const lifetime =
      new Date(String(invitation!.expires_at)).getTime() - new Date(String(invitation!.issued_at)).getTime();
    expect(lifetime).toBe(TTL_HOURS * 3_600_000);

    // Assess: once delivered, the token is in no table (control plane and tenant schema) and no log
    await until(
      "the delivered welcome to lose its link",
      () => countOf(sql`SELECT count(*) AS n FROM notifications_outbox WHERE payload ? 'setPasswordUrl'`),
      (n) => n === 0,
    );
    const leaks: string[] = [];
    let searchedRows = 0;
    for (const schema of ["public", schemaOf(run.tenantId)]) {
      for (const table of await tablesOf(schema)) {
        const qualified = sql.raw(`${safeIdentifier(schema)}.${safeIdentifier(table)}`);
        searchedRows += await countOf(sql`SELECT count(*) AS n FROM ${qualified}`);
        const hits = await countOf(
          sql`SELECT count(*) AS n FROM ${qualified} r WHERE strpos(r::text, ${token}) > 0`,
        );
        if (hits > 0) leaks.push(`${schema}.${table}`);
      }
    }
    expect(leaks).toEqual([]);
    expect(searchedRows).toBeGreaterThan(0);
    expect(
      await countOf(sql`SELECT count(*) AS n FROM notifications_outbox r WHERE strpos(r::text, ${slug}) > 0`),
    ).toBeGreaterThan(0);
    expect(server.logs.join("\n")).not.toContain(token);

    // Act: accept the invitation, then try the same link again
    const first = await server.request("POST", ACCEPT, {
      key: null,
      body: { token, password: NEW_PASSWORD },
    });
    const second = await server.request("POST", ACCEPT, {
      key: null,
      body: { token, password: "another-password-123" },
    });

    // Assess: the first sets the password; the second is refused and changes nothing
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body).toMatchObject({ tenantId: run.tenantId, email: `admin@${slug}.example.org` });
    expectApiError(second, 409, { field: "token" });
    expect(second.body.error.message).toContain("already used");
    const after = await adminOf(run.tenantId);
    expect(await verifyPassword(NEW_PASSWORD, after.password_hash!)).toBe(true);
    expect(server.logs.join("\n")).not.toContain(NEW_PASSWORD);
    expect(
      await countOf(
        sql`SELECT count(*) AS n FROM audit_logs WHERE action = 'invitation.accept' AND target_id = ${admin.id}`,
      ),
    ).toBe(1);
  });

  it("refuses an expired link, leaving the admin without a password", async () => {
    // Prepare
    const { run, link } = await provisionInvited(slugOf());
    const token = link.searchParams.get("token")!;

    // Act: one minute after the invitation's lifetime
    clockOffsetMs = TTL_HOURS * 3_600_000 + 60_000;
    let res: HttpResult<any>;
    try {
      res = await server.request("POST", ACCEPT, { key: null, body: { token, password: NEW_PASSWORD } });
    } finally {
      clockOffsetMs = 0;
    }

    // Assess
    expectApiError(res, 409, { field: "token" });
    expect(res.body.error.message).toContain("expired");
    expect((await adminOf(run.tenantId)).password_hash).toBeNull();
  });

  it("404s an unknown token and 400s a malformed one or a short password", async () => {
    const unknown = await server.request("POST", ACCEPT, {
      key: null,
      body: { token: "A".repeat(43), password: NEW_PASSWORD },
    });
    const malformed = await server.request("POST", ACCEPT, {
      key: null,
      body: { token: "not a token", password: NEW_PASSWORD },
    });
    const short = await server.request("POST", ACCEPT, {
      key: null,
      body: { token: "A".repeat(43), password: "short-pw-11" },
    });
    expectApiError(unknown, 404);
    expectApiError(malformed, 400, { field: "token" });
    expectApiError(short, 400, { field: "password" });
  });

  it("refuses a template that sends no welcome notification, naming adminPassword, writing nothing", async () => {
    // Prepare: an inline template without send-welcome-notification
    const slug = slugOf();
    const template = (
      await server.request("GET", `${API}/templates/${await runs.templateId("Basic School System")}`)
    ).body;
    const spec = {
      name: template.name,
      category: template.category,
      settings: template.settings,
      limits: template.limits,
      initialData: template.initialData,
      migrations: template.migrations,
      postProvisioningSteps: template.postProvisioningSteps.filter(
        (s: string) => s !== "send-welcome-notification",
      ),
    };
    const tenantsBefore = await countOf(sql`SELECT count(*) AS n FROM tenants`);

    // Act
    const res = await server.request("POST", `${API}/provision/custom`, {
      body: { ...invitedBody(slug), template: spec },
    });

    // Assess
    expectApiError(res, 400, { field: "adminPassword" });
    expect(await countOf(sql`SELECT count(*) AS n FROM tenants`)).toBe(tenantsBefore);
  });

  it("an Idempotency-Key replays a password-less request; the same key with a password is a 409", async () => {
    // Prepare
    const slug = slugOf();
    const path = `${API}/templates/${await runs.templateId("Basic School System")}/provision`;
    const headers = { "idempotency-key": `inv-${randomUUID()}` };

    // Act
    const first = await server.request("POST", path, { body: invitedBody(slug), headers });
    const again = await server.request("POST", path, { body: invitedBody(slug), headers });
    const withPassword = await server.request("POST", path, {
      body: { ...invitedBody(slug), adminPassword: NEW_PASSWORD },
      headers,
    });

    // Assess
    expect(first.status).toBe(202);
    expect(again.status).toBe(202);
    expect(again.body.id).toBe(first.body.id);
    expect(again.headers.get("idempotent-replay")).toBe("true");
    expectApiError(withPassword, 409, { field: "Idempotency-Key" });
    await settle(first.body.id);
  });
});

describe("INVITATION_BASE_URL", () => {
  it("must be an http(s) URL without a token parameter, named in the error", () => {
    expect(() => loadConfig({ INVITATION_BASE_URL: "ftp://example.org/x" })).toThrow(/INVITATION_BASE_URL/);
    expect(() => loadConfig({ INVITATION_BASE_URL: "https://example.org/x?token=1" })).toThrow(ConfigError);
    expect(loadConfig({ INVITATION_BASE_URL: BASE_URL }).invitations).toEqual({
      baseUrl: BASE_URL,
      ttlHours: 72,
    });
    expect(loadConfig({}).invitations.baseUrl).toBeNull();
  });
});
