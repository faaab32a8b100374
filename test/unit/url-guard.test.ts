/**
 * Where webhooks may go (functions/domain/webhooks/url-guard.ts): private, loopback, link-local
 * (metadata), CGNAT, multicast, reserved and documentation addresses refused, also inside IPv6
 * forms; a host name refused when any of its addresses is; http for loopback in local mode only.
 */
import { describe, expect, it } from "vitest";
import {
  checkWebhookTarget,
  forbiddenReason,
  type ResolveHost,
  UnsafeWebhookUrlError,
} from "../../functions/domain/webhooks/url-guard.ts";

const AWS = { allowLoopback: false };
const LOCAL = { allowLoopback: true };

describe("forbiddenReason", () => {
  it.each([
    ["169.254.169.254", /link-local/],
    ["10.0.0.1", /private/],
    ["172.16.5.4", /private/],
    ["172.31.255.255", /private/],
    ["192.168.0.1", /private/],
    ["127.0.0.1", /loopback/],
    ["0.0.0.0", /this network/],
    ["100.64.0.1", /carrier-grade NAT/],
    ["224.0.0.1", /multicast/],
    ["255.255.255.255", /reserved/],
    ["192.0.2.10", /documentation/],
    ["198.18.0.1", /benchmarking/],
    ["::1", /loopback/],
    ["::", /unspecified/],
    ["fd00:ec2::254", /unique local/],
    ["fe80::1", /link-local/],
    ["ff02::1", /multicast/],
    ["::ffff:169.254.169.254", /link-local/],
    ["::ffff:a9fe:a9fe", /link-local/],
    ["::ffff:10.0.0.1", /private/],
    ["64:ff9b::a00:1", /private/],
    ["2002:a9fe:a9fe::1", /link-local/],
    ["2001:db8::1", /documentation/],
  ])("refuses %s", (address, why) => {
    expect(forbiddenReason(address, AWS)).toMatch(why);
  });

  it.each(["93.184.216.34", "8.8.8.8", "172.32.0.1", "2606:4700:4700::1111", "::ffff:93.184.216.34"])(
    "allows the public address %s",
    (address) => {
      expect(forbiddenReason(address, AWS)).toBeUndefined();
    },
  );

  it("allows loopback in local mode only, and nothing else private", () => {
    expect(forbiddenReason("127.0.0.1", LOCAL)).toBeUndefined();
    expect(forbiddenReason("::1", LOCAL)).toBeUndefined();
    expect(forbiddenReason("10.0.0.1", LOCAL)).toMatch(/private/);
    expect(forbiddenReason("169.254.169.254", LOCAL)).toMatch(/link-local/);
  });
});

describe("checkWebhookTarget", () => {
  const resolver =
    (names: Record<string, string[]>): ResolveHost =>
    async (host) => {
      const found = names[host];
      if (!found) throw new Error(`ENOTFOUND ${host}`);
      return found;
    };
  const dns = resolver({
    "hooks.example.com": ["93.184.216.34"],
    "metadata.example.com": ["169.254.169.254"],
    "split.example.com": ["93.184.216.34", "10.0.0.1"],
    localhost: ["127.0.0.1"],
  });

  it("returns the URL and the addresses to connect to", async () => {
    const target = await checkWebhookTarget("https://hooks.example.com/in?x=1", AWS, dns);

    expect(target.url.href).toBe("https://hooks.example.com/in?x=1");
    expect(target.addresses).toEqual(["93.184.216.34"]);
  });

  it("refuses a name resolving to a metadata or private address, even among public ones", async () => {
    await expect(checkWebhookTarget("https://metadata.example.com/", AWS, dns)).rejects.toThrow(
      /metadata\.example\.com resolves to 169\.254\.169\.254/,
    );
    await expect(checkWebhookTarget("https://split.example.com/", AWS, dns)).rejects.toThrow(/10\.0\.0\.1/);
  });

  it("refuses literal addresses in any notation the URL parser normalises", async () => {
    for (const url of [
      "https://169.254.169.254/",
      "https://0xa9fea9fe/",
      "https://2852039166/",
      "https://[::ffff:169.254.169.254]/",
      "https://10.0.0.1:8443/",
    ]) {
      await expect(checkWebhookTarget(url, AWS, dns), url).rejects.toBeInstanceOf(UnsafeWebhookUrlError);
    }
  });

  it("takes http only to loopback, and only in local mode", async () => {
    await expect(checkWebhookTarget("http://127.0.0.1:8080/x", LOCAL, dns)).resolves.toMatchObject({
      addresses: ["127.0.0.1"],
    });
    await expect(checkWebhookTarget("http://localhost:8080/x", LOCAL, dns)).resolves.toBeDefined();
    await expect(checkWebhookTarget("http://127.0.0.1:8080/x", AWS, dns)).rejects.toThrow(/https/);
    await expect(checkWebhookTarget("https://127.0.0.1/x", AWS, dns)).rejects.toThrow(/loopback/);
    await expect(checkWebhookTarget("http://hooks.example.com/x", LOCAL, dns)).rejects.toThrow(/https/);
  });

  it("refuses other schemes, credentials, fragments and names that do not resolve", async () => {
    await expect(checkWebhookTarget("ftp://hooks.example.com/", AWS, dns)).rejects.toThrow(/https/);
    await expect(checkWebhookTarget("https://a:b@hooks.example.com/", AWS, dns)).rejects.toThrow(
      /credentials/,
    );
    await expect(checkWebhookTarget("https://hooks.example.com/#x", AWS, dns)).rejects.toThrow(/fragment/);
    await expect(checkWebhookTarget("https://nowhere.example.com/", AWS, dns)).rejects.toThrow(
      /does not resolve/,
    );
    await expect(checkWebhookTarget("not a url", AWS, dns)).rejects.toThrow(/valid URL/);
  });
});
