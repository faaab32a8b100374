/**
 * Where webhooks may go. A subscription's URL is checked when it is registered AND before every
 * delivery (its name may resolve elsewhere by then): HTTPS only; no credentials in the URL; and
 * every address its host resolves to must be a public unicast address — never loopback, private
 * (RFC 1918, unique local), link-local (which holds the cloud metadata service, 169.254.169.254
 * and fd00:ec2::254), carrier-grade NAT, multicast, reserved or documentation ranges, nor an IPv6
 * form that embeds one of those (IPv4-mapped, NAT64, 6to4). The sender then connects to exactly
 * the address that was checked (webhook-sender.ts), so a DNS answer cannot change in between.
 *
 * The local runtime also allows loopback, over HTTP or HTTPS (a receiver on the same machine).
 */
import { lookup } from "node:dns/promises";
import { BlockList, isIP } from "node:net";

export interface UrlPolicy {
  /** Local mode: loopback targets (127.0.0.0/8, ::1, localhost) allowed, over http too. */
  readonly allowLoopback: boolean;
}

/** Resolves a host name to its addresses (the system resolver by default; tests hand in their own). */
export type ResolveHost = (hostname: string) => Promise<string[]>;

export const systemResolver: ResolveHost = async (hostname) =>
  (await lookup(hostname, { all: true, verbatim: true })).map((a) => a.address);

/** A webhook target the service refuses to call; the message says why. */
export class UnsafeWebhookUrlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UnsafeWebhookUrlError";
  }
}

const FORBIDDEN_V4: readonly [string, number, string][] = [
  ["0.0.0.0", 8, "a 'this network' address"],
  ["10.0.0.0", 8, "a private address"],
  ["100.64.0.0", 10, "a carrier-grade NAT address"],
  ["127.0.0.0", 8, "a loopback address"],
  ["169.254.0.0", 16, "a link-local address (the metadata service lives there)"],
  ["172.16.0.0", 12, "a private address"],
  ["192.0.0.0", 24, "an IETF protocol address"],
  ["192.0.2.0", 24, "a documentation address"],
  ["192.88.99.0", 24, "a 6to4 relay address"],
  ["192.168.0.0", 16, "a private address"],
  ["198.18.0.0", 15, "a benchmarking address"],
  ["198.51.100.0", 24, "a documentation address"],
  ["203.0.113.0", 24, "a documentation address"],
  ["224.0.0.0", 4, "a multicast address"],
  ["240.0.0.0", 4, "a reserved address"],
];

const FORBIDDEN_V6: readonly [string, number, string][] = [
  ["::", 128, "the unspecified address"],
  ["::1", 128, "a loopback address"],
  ["100::", 64, "a discard address"],
  ["2001::", 32, "a Teredo address"],
  ["2001:db8::", 32, "a documentation address"],
  ["fc00::", 7, "a unique local (private) address"],
  ["fe80::", 10, "a link-local address"],
  ["ff00::", 8, "a multicast address"],
];

function blockList(entries: readonly [string, number, string][], type: "ipv4" | "ipv6") {
  return entries.map(([net, prefix, why]) => {
    const list = new BlockList();
    list.addSubnet(net, prefix, type);
    return { list, why };
  });
}
const V4 = blockList(FORBIDDEN_V4, "ipv4");
const V6 = blockList(FORBIDDEN_V6, "ipv6");

/** The 16 bytes of an IPv6 address (with `::` and an embedded dotted quad expanded). */
function ipv6Bytes(address: string): number[] {
  let text = address.toLowerCase().replace(/%.*$/, "");
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (quad) {
    const [a, b, c, d] = quad[1]!.split(".").map(Number) as [number, number, number, number];
    text = `${text.slice(0, -quad[1]!.length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = "", tail] = text.split("::");
  const groups = (part: string) => (part === "" ? [] : part.split(":"));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const missing = 8 - left.length - right.length;
  const all = [...left, ...Array<string>(tail === undefined ? 0 : missing).fill("0"), ...right];
  return all.flatMap((g) => {
    const n = Number.parseInt(g, 16);
    return [(n >> 8) & 0xff, n & 0xff];
  });
}

const isV6Loopback = (b: readonly number[]) => b.slice(0, 15).every((x) => x === 0) && b[15] === 1;
const isV6Unspecified = (b: readonly number[]) => b.every((x) => x === 0);

/** An IPv4 address an IPv6 one stands for (IPv4-mapped, IPv4-compatible, NAT64, 6to4), if any. */
function embeddedIpv4(address: string): string | undefined {
  const b = ipv6Bytes(address);
  // ::1 and :: are IPv6's own loopback and unspecified addresses, not IPv4-compatible ones.
  if (isV6Loopback(b) || isV6Unspecified(b)) return undefined;
  const v4 = (at: number) => b.slice(at, at + 4).join(".");
  const zero = (from: number, to: number) => b.slice(from, to).every((x) => x === 0);
  if (zero(0, 10) && b[10] === 0xff && b[11] === 0xff) return v4(12); // ::ffff:a.b.c.d
  if (zero(0, 12)) return v4(12); // ::a.b.c.d (deprecated IPv4-compatible)
  // 64:ff9b::/96 (NAT64 well-known prefix)
  if (b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && zero(4, 12)) return v4(12);
  if (b[0] === 0x20 && b[1] === 0x02) return v4(2); // 2002:aabb:ccdd::/48 (6to4)
  return undefined;
}

/** Why an address is refused as a webhook target, or undefined when it is a public unicast address. */
export function forbiddenReason(address: string, policy: UrlPolicy): string | undefined {
  const family = isIP(address);
  if (family === 0) return "not an IP address";
  if (family === 6) {
    if (policy.allowLoopback && isV6Loopback(ipv6Bytes(address))) return undefined;
    const v4 = embeddedIpv4(address);
    if (v4) return forbiddenReason(v4, policy);
    return V6.find((r) => r.list.check(address, "ipv6"))?.why;
  }
  if (policy.allowLoopback && address.startsWith("127.")) return undefined;
  return V4.find((r) => r.list.check(address, "ipv4"))?.why;
}

function isLoopback(address: string): boolean {
  if (isIP(address) === 4) return address.startsWith("127.");
  const v4 = embeddedIpv4(address);
  if (v4) return v4.startsWith("127.");
  return isV6Loopback(ipv6Bytes(address));
}

/** The URL's host as the resolver and `isIP` want it (IPv6 literals without brackets). */
export function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, "$1");
}

/** Parses and checks a webhook URL's form (not yet where it resolves). */
export function parseWebhookUrl(text: string, policy: UrlPolicy): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UnsafeWebhookUrlError("is not a valid URL");
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new UnsafeWebhookUrlError("must be an https:// URL");
  }
  if (url.username || url.password) {
    throw new UnsafeWebhookUrlError("must not contain credentials (user:password@)");
  }
  if (url.hash) throw new UnsafeWebhookUrlError("must not contain a #fragment");
  if (url.protocol === "http:" && !policy.allowLoopback) {
    throw new UnsafeWebhookUrlError("must be an https:// URL");
  }
  return url;
}

/** A checked target: the URL and the addresses the sender may connect to. */
export interface WebhookTarget {
  readonly url: URL;
  readonly addresses: readonly string[];
}

/**
 * Resolves the URL's host and checks every address. Plain HTTP is allowed only to loopback in
 * local mode. Throws `UnsafeWebhookUrlError` naming the reason.
 */
export async function checkWebhookTarget(
  text: string,
  policy: UrlPolicy,
  resolve: ResolveHost = systemResolver,
): Promise<WebhookTarget> {
  const url = parseWebhookUrl(text, policy);
  const host = hostOf(url);
  let addresses: string[];
  if (isIP(host) !== 0) addresses = [host];
  else {
    try {
      addresses = await resolve(host);
    } catch (error) {
      throw new UnsafeWebhookUrlError(`host ${host} does not resolve (${(error as Error).message})`);
    }
    if (addresses.length === 0) throw new UnsafeWebhookUrlError(`host ${host} does not resolve`);
  }
  for (const address of addresses) {
    const why = forbiddenReason(address, policy);
    if (why) {
      const shown = address === host ? address : `${host} resolves to ${address}`;
      throw new UnsafeWebhookUrlError(`must not point to ${why}: ${shown}`);
    }
  }
  if (url.protocol === "http:" && !addresses.every(isLoopback)) {
    throw new UnsafeWebhookUrlError("must be an https:// URL (http is allowed for loopback only)");
  }
  return { url, addresses };
}
