/**
 * The security headers the web console is served with: by the local server (local/static-files.ts)
 * and by CloudFront in AWS (lib/constructs/console-hosting.ts), from this one definition. The
 * console talks only to its own origin's API (`/api/*`, the same origin on both runtimes); what it
 * draws is DOM and inline SVG, so nothing needs inline scripts, inline style attributes or other
 * origins.
 */
export const CONSOLE_CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

export const CONSOLE_SECURITY_HEADERS = {
  "content-security-policy": CONSOLE_CONTENT_SECURITY_POLICY,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  // The console changes with the code; always revalidate rather than serve a stale app.
  "cache-control": "no-cache",
} as const satisfies Readonly<Record<string, string>>;
