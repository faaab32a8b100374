/**
 * One webhook attempt over HTTP (functions/domain/webhooks/webhook-sender.ts) against a real local
 * server: the POST and its headers, status and Retry-After, no redirects followed, the timeout,
 * and the connection made to the address that was checked, not to wherever the name resolves.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createSenderAgents,
  httpSender,
  retryAfterMs,
} from "../../functions/domain/webhooks/webhook-sender.ts";

let server: Server;
let port: number;
let handler: (req: IncomingMessage, res: ServerResponse, body: string) => void = (_req, res) => res.end();
const agents = createSenderAgents(4);
const send = httpSender(agents);
const headers = { "webhook-id": "evt", "webhook-timestamp": "1700000000", "webhook-signature": "v1,abc" };

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => {
      body += c.toString("utf8");
    });
    req.on("end", () => handler(req, res, body));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  agents.http.destroy();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

/** A target whose name resolves nowhere: only the pinned address can be reached. */
const target = (path = "/hook") => ({
  url: new URL(`http://receiver.invalid:${port}${path}`),
  addresses: ["127.0.0.1"],
});

describe("httpSender", () => {
  it("POSTs the body with the signature headers to the checked address", async () => {
    // Prepare
    let seen: {
      method?: string | undefined;
      url?: string | undefined;
      headers?: Record<string, unknown>;
      body?: string;
    } = {};
    handler = (req, res, body) => {
      seen = { method: req.method, url: req.url, headers: req.headers, body };
      res.writeHead(204).end();
    };

    // Act
    const result = await send({ target: target("/hook?x=1"), headers, body: '{"a":1}', timeoutMs: 2000 });

    // Assess
    expect(result).toMatchObject({ ok: true, status: 204, error: null, retryAfterMs: null });
    expect(result.latencyMs).toBeGreaterThanOrEqual(0);
    expect(seen).toMatchObject({ method: "POST", url: "/hook?x=1", body: '{"a":1}' });
    expect(seen.headers).toMatchObject({
      "content-type": "application/json",
      host: `receiver.invalid:${port}`,
      ...headers,
    });
  });

  it("reports a non-2xx answer with its Retry-After, and does not follow a redirect", async () => {
    handler = (req, res) => {
      if (req.url === "/busy") res.writeHead(503, { "retry-after": "7" }).end("busy");
      else res.writeHead(302, { location: "http://169.254.169.254/" }).end();
    };

    const busy = await send({ target: target("/busy"), headers, body: "{}", timeoutMs: 2000 });
    const moved = await send({ target: target("/moved"), headers, body: "{}", timeoutMs: 2000 });

    expect(busy).toMatchObject({
      ok: false,
      status: 503,
      retryAfterMs: 7000,
      error: "HTTP 503 Service Unavailable",
    });
    expect(moved).toMatchObject({ ok: false, status: 302, error: "HTTP 302 Found" });
  });

  it("gives up after the timeout, and reports a refused connection", async () => {
    handler = () => {}; // never answers

    const slow = await send({ target: target(), headers, body: "{}", timeoutMs: 200 });
    const closed = await send({
      target: { url: new URL("http://receiver.invalid:1/"), addresses: ["127.0.0.1"] },
      headers,
      body: "{}",
      timeoutMs: 2000,
    });

    expect(slow).toMatchObject({
      ok: false,
      status: null,
      error: expect.stringMatching(/no answer within 200 ms/),
    });
    expect(slow.latencyMs).toBeGreaterThanOrEqual(150);
    expect(closed).toMatchObject({ ok: false, status: null, error: expect.stringMatching(/ECONNREFUSED/) });
  });
});

describe("retryAfterMs", () => {
  it("reads seconds and HTTP dates", () => {
    const now = Date.parse("2026-03-01T12:00:00Z");
    expect(retryAfterMs("120", now)).toBe(120_000);
    expect(retryAfterMs("Sun, 01 Mar 2026 12:00:30 GMT", now)).toBe(30_000);
    expect(retryAfterMs("soon", now)).toBeNull();
    expect(retryAfterMs(undefined, now)).toBeNull();
  });
});
