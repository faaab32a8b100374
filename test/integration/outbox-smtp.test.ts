/**
 * The local outbox worker with `SMTP_URL`: queued notifications are rendered as the SES sender
 * renders them and sent to a real (tiny, in-process) SMTP server; a message the server refuses
 * stays queued and goes out with a later drain. On the database TEST_DATABASE names.
 */
import type { AddressInfo } from "node:net";
import { eq, sql } from "drizzle-orm";
import { SMTPServer, type SMTPServerAddress } from "smtp-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { notificationsOutbox } from "../../functions/db/schema.ts";
import { queryRows } from "../../functions/db/sql.ts";
import { DEDUPE_HEADER, renderNotification } from "../../functions/domain/notifications/message-rendering.ts";
import { ConfigError, loadConfig } from "../../functions/shared/config.ts";
import { provisionBody } from "../support/provision-body.ts";
import { startTestServer, type TestServer } from "../support/server.ts";
import { until } from "../support/wait.ts";

interface Received {
  readonly from: string | undefined;
  readonly to: string[];
  readonly raw: string;
}

const SENDER = "no-reply@provisioning.test";

describe("the local outbox worker with SMTP_URL", () => {
  let smtp: SMTPServer;
  let server: TestServer;
  const received: Received[] = [];
  /** Recipients the SMTP server refuses while listed here. */
  const refused = new Set<string>();

  beforeAll(async () => {
    smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ["STARTTLS"],
      logger: false,
      onRcptTo(address: SMTPServerAddress, _session, callback) {
        if (refused.has(address.address)) callback(new Error("550 mailbox unavailable"));
        else callback();
      },
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on("data", (c: Buffer) => chunks.push(c));
        stream.on("end", () => {
          received.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : undefined,
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
      env: {
        SMTP_URL: `smtp://127.0.0.1:${port}`,
        NOTIFICATION_SENDER: SENDER,
        OUTBOX_DRAIN_INTERVAL_MS: "200",
      },
    });
  });

  afterAll(async () => {
    await server?.close();
    await new Promise<void>((resolve) => smtp?.close(() => resolve()));
  });

  it("sends the welcome message of a new tenant by SMTP, rendered as SES would send it", async () => {
    // Prepare
    const slug = `m-${Math.random().toString(36).slice(2, 10)}`;
    const body = provisionBody(slug, "Otter!Maple-Harbour-2031");
    const admin = body.adminEmail as string;
    refused.add(admin);
    const templates = await server.request("GET", "/api/provisioning/templates?limit=50");
    const templateId = templates.body.items.find(
      (t: { name: string }) => t.name === "Basic School System",
    ).id;

    // Act: provision; the SMTP server first refuses the admin's address, then accepts it.
    const res = await server.request("POST", `/api/provisioning/templates/${templateId}/provision`, { body });
    const [queued] = await until(
      "the welcome notification to be queued and tried",
      () =>
        queryRows<{ id: string }>(
          server.database.db,
          sql`SELECT id::text AS id FROM notifications_outbox WHERE recipient = ${admin}`,
        ),
      (rows) => rows.length === 1 && server.logs.some((l) => l.includes("notification not delivered")),
    );
    // Nothing reached the mailbox while it refused (the row itself flips between claimed and
    // released by each drain, so its delivered_at is no evidence either way).
    const deliveredWhileRefused = received.some((m) => m.to.includes(admin));
    refused.delete(admin);
    const mail = await until(
      "the welcome message to arrive",
      async () => received.find((m) => m.to.includes(admin)),
      (m) => m !== undefined,
    );

    // Assess
    expect(res.status).toBe(202);
    expect(deliveredWhileRefused).toBe(false);
    const expected = renderNotification({
      kind: "welcome",
      recipient: admin,
      payload: { adminName: "Ada Admin", tenantName: `Tenant ${slug}`, subdomain: slug },
    });
    expect(mail!.from).toBe(SENDER);
    expect(mail!.raw).toContain(`Subject: ${expected.subject}`);
    expect(mail!.raw).toMatch(new RegExp(`^${DEDUPE_HEADER}: welcome:[0-9a-f-]{36}\r?$`, "im"));
    expect(mail!.raw).toContain("Hello Ada Admin,");
    await until(
      "the row to be marked delivered",
      async () =>
        (
          await server.database.db
            .select()
            .from(notificationsOutbox)
            .where(eq(notificationsOutbox.id, queued!.id))
        )[0],
      (row) => row?.deliveredAt !== null,
    );
    expect(received.filter((m) => m.to.includes(admin))).toHaveLength(1);
  });

  it("SMTP_URL needs NOTIFICATION_SENDER, named in the error", () => {
    expect(() => loadConfig({ SMTP_URL: "smtp://127.0.0.1:2525" })).toThrow(ConfigError);
    expect(() => loadConfig({ SMTP_URL: "smtp://127.0.0.1:2525" })).toThrow(/NOTIFICATION_SENDER:/);
    expect(() => loadConfig({ SMTP_URL: "http://mail", NOTIFICATION_SENDER: SENDER })).toThrow(/SMTP_URL:/);
  });
});
