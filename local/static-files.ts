/**
 * Serves the web console (`console/`) for the local server's non-API paths: plain files, no
 * server-side rendering. Paths are resolved under the root and checked against it after following
 * symlinks, so `..`, encoded separators and links cannot reach anything outside it.
 */
import { createReadStream } from "node:fs";
import { realpath, stat } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { extname, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { CONSOLE_SECURITY_HEADERS } from "../functions/http/console-headers.ts";

/** The console's files in this repository. */
export const CONSOLE_ROOT = fileURLToPath(new URL("../console/", import.meta.url));

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
};

export type StaticFileHandler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

/**
 * The file a URL path names under `root` (`/` → `index.html`), or undefined when the path is
 * malformed or would leave the root. Pure: does not touch the file system.
 */
export function resolveStaticPath(root: string, urlPath: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return undefined;
  }
  if (!decoded.startsWith("/") || decoded.includes("\0") || decoded.includes("\\")) return undefined;
  const relative = decoded.endsWith("/") ? `${decoded}index.html` : decoded;
  const base = resolve(root);
  const full = resolve(base, `.${relative}`);
  return full.startsWith(base + sep) ? full : undefined;
}

/** Files made by the service rather than read from `root`: URL path → what makes its text (typed by its extension). */
export type GeneratedFiles = Readonly<Record<string, () => string>>;

/**
 * A `staticFiles` option for createLocalHttpServer: answers GET and HEAD for files under `root`
 * and for the `generated` ones (same headers; a generated path wins over a file of that name),
 * and returns false (the server then answers 404) for anything it does not serve.
 */
export function createStaticFiles(
  root: string = CONSOLE_ROOT,
  generated: GeneratedFiles = {},
): StaticFileHandler {
  let realRoot: Promise<string> | undefined;
  return async (req, res) => {
    const method = (req.method ?? "GET").toUpperCase();
    if (method !== "GET" && method !== "HEAD") return false;
    const pathname = new URL(req.url ?? "/", "http://localhost").pathname;
    const make = Object.hasOwn(generated, pathname) ? generated[pathname] : undefined;
    const generatedType = make ? CONTENT_TYPES[extname(pathname).toLowerCase()] : undefined;
    if (make && generatedType) {
      const body = make();
      res.writeHead(200, {
        ...CONSOLE_SECURITY_HEADERS,
        "content-type": generatedType,
        "content-length": String(Buffer.byteLength(body)),
      });
      res.end(method === "HEAD" ? undefined : body);
      return true;
    }
    const candidate = resolveStaticPath(root, pathname);
    if (!candidate) return false;
    const contentType = CONTENT_TYPES[extname(candidate).toLowerCase()];
    if (!contentType) return false;
    realRoot ??= realpath(root);
    let file: string;
    let size: number;
    try {
      const base = await realRoot;
      file = await realpath(candidate);
      if (!file.startsWith(base + sep)) return false;
      const info = await stat(file);
      if (!info.isFile()) return false;
      size = info.size;
    } catch {
      return false;
    }
    res.writeHead(200, {
      ...CONSOLE_SECURITY_HEADERS,
      "content-type": contentType,
      "content-length": String(size),
    });
    if (method === "HEAD") {
      res.end();
      return true;
    }
    await new Promise<void>((done) => {
      const stream = createReadStream(file);
      stream.once("error", () => {
        res.destroy();
        done();
      });
      stream.once("end", done);
      stream.pipe(res);
    });
    return true;
  };
}
