/**
 * One webhook attempt over HTTP: a POST of the event's JSON with the Standard Webhooks headers,
 * to exactly the address the URL guard checked (the socket's DNS lookup is pinned to it, so the
 * name cannot resolve elsewhere between the check and the connection). Redirects are not
 * followed (a 3xx is a failure, as the spec recommends); the answer's body is read up to a few
 * kilobytes and dropped; the whole attempt is bounded by a timeout.
 */
import http, { type Agent } from "node:http";
import https from "node:https";
import type { LookupFunction } from "node:net";
import { isIP } from "node:net";
import { hostOf, type WebhookTarget } from "./url-guard.ts";
import type { SignedHeaders } from "./webhook-signature.ts";

export interface WebhookRequest {
  readonly target: WebhookTarget;
  readonly headers: SignedHeaders;
  readonly body: string;
  readonly timeoutMs: number;
}

export interface SendResult {
  /** A 2xx answer. */
  readonly ok: boolean;
  readonly status: number | null;
  readonly latencyMs: number;
  /** What went wrong (non-2xx, timeout, connection error), short. */
  readonly error: string | null;
  /** `Retry-After` of the answer, in milliseconds. */
  readonly retryAfterMs: number | null;
}

export type SendWebhook = (request: WebhookRequest) => Promise<SendResult>;

/** Bytes of an answer's body that are read (then the connection's rest is discarded). */
const MAX_ANSWER_BYTES = 4096;
const USER_AGENT = "tenant-provisioning-webhooks/1";

/** `Retry-After`: seconds or an HTTP date. */
export function retryAfterMs(value: string | undefined, now: number = Date.now()): number | null {
  if (!value) return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

function pinnedLookup(addresses: readonly string[]): LookupFunction {
  const address = addresses[0]!;
  const family = isIP(address);
  return ((_hostname, options, callback) => {
    if ((options as { all?: boolean }).all) {
      (callback as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [
        { address, family },
      ]);
    } else callback(null, address, family);
  }) as LookupFunction;
}

/** Keep-alive agents (a receiver gets many deliveries); one per scheme. */
export interface SenderAgents {
  readonly http: Agent;
  readonly https: https.Agent;
}

export function createSenderAgents(maxSockets = 16): SenderAgents {
  return {
    http: new http.Agent({ keepAlive: true, maxSockets }),
    https: new https.Agent({ keepAlive: true, maxSockets }),
  };
}

/** Sends one attempt; never throws (every failure is a result). */
export function httpSender(agents: SenderAgents = createSenderAgents()): SendWebhook {
  return (request) =>
    new Promise<SendResult>((resolve) => {
      const { url, addresses } = request.target;
      const started = performance.now();
      const elapsed = () => Math.round(performance.now() - started);
      let settled = false;
      const finish = (result: Omit<SendResult, "latencyMs">) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ ...result, latencyMs: elapsed() });
      };
      const secure = url.protocol === "https:";
      const body = Buffer.from(request.body, "utf8");
      const options: https.RequestOptions = {
        method: "POST",
        protocol: url.protocol,
        host: hostOf(url),
        ...(isIP(hostOf(url)) === 0 ? { lookup: pinnedLookup(addresses), servername: hostOf(url) } : {}),
        port: url.port === "" ? (secure ? 443 : 80) : Number(url.port),
        path: `${url.pathname}${url.search}`,
        headers: {
          "content-type": "application/json",
          "content-length": String(body.length),
          "user-agent": USER_AGENT,
          ...request.headers,
        },
        agent: secure ? agents.https : agents.http,
      };
      const req = (secure ? https : http).request(options, (res) => {
        let read = 0;
        res.on("data", (chunk: Buffer) => {
          read += chunk.length;
          if (read > MAX_ANSWER_BYTES) res.destroy();
        });
        const done = () => {
          const status = res.statusCode ?? 0;
          const ok = status >= 200 && status < 300;
          const header = res.headers["retry-after"];
          finish({
            ok,
            status,
            error: ok ? null : `HTTP ${status}${res.statusMessage ? ` ${res.statusMessage}` : ""}`,
            retryAfterMs: retryAfterMs(Array.isArray(header) ? header[0] : header),
          });
        };
        res.on("end", done);
        res.on("close", done);
        res.on("error", done);
      });
      const timer = setTimeout(() => {
        req.destroy(new Error(`no answer within ${request.timeoutMs} ms`));
      }, request.timeoutMs);
      req.on("error", (error: NodeJS.ErrnoException) => {
        const code = error.code && !error.message.includes(error.code) ? `${error.code} ` : "";
        finish({
          ok: false,
          status: null,
          error: `${code}${error.message}`.slice(0, 500),
          retryAfterMs: null,
        });
      });
      req.end(body);
    });
}
