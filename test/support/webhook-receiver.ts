/**
 * A real HTTP receiver for webhook tests, on 127.0.0.1 and a random port: it records every request
 * (headers, raw body, when) and answers what the test tells it — a status per request, or holds
 * the answer until released. Signatures are checked by the tests with `verifyStandardWebhook`,
 * written here from the Standard Webhooks spec independently of the service's own signing code.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface ReceivedRequest {
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly receivedAt: number;
}

/** What to answer the n-th request (0-based): a status, or `hold` (never answer until released). */
export type Responder = (index: number, request: ReceivedRequest) => number | "hold";

export interface WebhookReceiver {
  readonly url: string;
  readonly requests: ReceivedRequest[];
  /** Changes what the next requests get. */
  respond(responder: Responder): void;
  /** Answers every held request with this status. */
  release(status?: number): void;
  /** The distinct events received (by `webhook-id`), as parsed bodies. */
  events(): Record<string, unknown>[];
  close(): Promise<void>;
}

function headersOf(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") out[k] = v;
  return out;
}

export async function startWebhookReceiver(responder: Responder = () => 200): Promise<WebhookReceiver> {
  let respond = responder;
  const requests: ReceivedRequest[] = [];
  const held: ((status: number) => void)[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const request: ReceivedRequest = {
        path: req.url ?? "/",
        headers: headersOf(req),
        body: Buffer.concat(chunks).toString("utf8"),
        receivedAt: Date.now(),
      };
      const index = requests.length;
      requests.push(request);
      const answer = (status: number) => {
        res.writeHead(status, { "content-type": "text/plain" });
        res.end(status < 300 ? "ok" : "no");
      };
      const status = respond(index, request);
      if (status === "hold") held.push(answer);
      else answer(status);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/tenant-events`,
    requests,
    respond: (r) => {
      respond = r;
    },
    release: (status = 200) => {
      for (const answer of held.splice(0)) answer(status);
    },
    events: () => {
      const seen = new Map<string, Record<string, unknown>>();
      for (const r of requests) {
        const id = r.headers["webhook-id"];
        if (id && !seen.has(id)) seen.set(id, JSON.parse(r.body) as Record<string, unknown>);
      }
      return [...seen.values()];
    },
    close: async () => {
      for (const answer of held.splice(0)) answer(503);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Verifies a request the way the Standard Webhooks spec tells receivers to: the secret's key is
 * the base64 after `whsec_`; the signed content is `{webhook-id}.{webhook-timestamp}.{raw body}`;
 * `webhook-signature` is a space-delimited list of `v1,<base64 HMAC-SHA256>`, one of which must
 * match (compared in constant time); the timestamp must be within 5 minutes.
 */
export function verifyStandardWebhook(secret: string, request: ReceivedRequest, now = Date.now()): boolean {
  const id = request.headers["webhook-id"];
  const timestamp = request.headers["webhook-timestamp"];
  const header = request.headers["webhook-signature"];
  if (!id || !timestamp || !header) return false;
  if (Math.abs(now / 1000 - Number(timestamp)) > 300) return false;
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const expected = createHmac("sha256", key).update(`${id}.${timestamp}.${request.body}`).digest();
  return header.split(" ").some((part) => {
    const [version, signature] = part.split(",");
    if (version !== "v1" || !signature) return false;
    const given = Buffer.from(signature, "base64");
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}
