/**
 * `provision bulk` and `batch show | cancel | retry`: many tenants as one batch, from a CSV or JSON
 * file, followed with a live summary of its children's counts.
 */

import { readFile } from "node:fs/promises";
import { extname, resolve } from "node:path";
import {
  type Batch,
  createBatchSchema,
  getBatchQuerySchema,
  scheduleBatchSchema,
} from "../../functions/schemas/batches.ts";
import { RUN_STATUSES } from "../../functions/schemas/progress.ts";
import type { ApiResponse } from "../api-client.ts";
import { type Command, defineCommand, definedOnly, parseFlags } from "../command.ts";
import { InterruptedError, RunFailedError, UsageError } from "../errors.ts";
import { json } from "../render.ts";
import { batchDetails, batchSummaryLine, scheduleDetails } from "../views.ts";
import type { AnyContext } from "./follow-run.ts";

const BATCH_WATCH = {
  type: "boolean",
  description:
    "follow the batch until it ends, one summary line per change; exit 0 if it completed, 4 otherwise",
} as const;

/** CSV columns may be spelt as the API's fields or as the CLI's flags (`admin-email`). */
const CSV_COLUMNS: Readonly<Record<string, string>> = {
  slug: "slug",
  name: "name",
  subdomain: "subdomain",
  adminname: "adminName",
  "admin-name": "adminName",
  adminemail: "adminEmail",
  "admin-email": "adminEmail",
  adminpassword: "adminPassword",
  "admin-password": "adminPassword",
  templateid: "templateId",
  "template-id": "templateId",
  template: "templateId",
};

/** RFC 4180 fields: commas, double quotes ("" inside quotes), CRLF or LF line ends. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"' && field === "") quoted = true;
    else if (ch === ",") {
      row.push(field);
      field = "";
    } else if (ch === "\n" || ch === "\r") {
      if (ch === "\r" && text[i + 1] === "\n") i++;
      row.push(field);
      field = "";
      if (row.some((f) => f !== "")) rows.push(row);
      row = [];
    } else field += ch;
  }
  row.push(field);
  if (row.some((f) => f !== "")) rows.push(row);
  return rows;
}

/** The items of a CSV file: a header row naming the columns, then one tenant per row. */
export function csvItems(text: string, command: readonly string[]): Record<string, string>[] {
  const [header, ...rows] = parseCsv(text.replace(/^\uFEFF/, ""));
  if (!header) throw new UsageError("--file: the CSV file is empty", command);
  const fields = header.map((h) => {
    const field = CSV_COLUMNS[h.trim().toLowerCase()];
    if (!field) {
      throw new UsageError(
        `--file: unknown column "${h}" (columns: slug, name, subdomain, adminName, adminEmail, templateId, adminPassword)`,
        command,
      );
    }
    return field;
  });
  return rows.map((cells, r) => {
    if (cells.length !== fields.length) {
      throw new UsageError(
        `--file: row ${r + 2} has ${cells.length} fields, the header ${fields.length}`,
        command,
      );
    }
    return Object.fromEntries(
      fields.flatMap((f, i) => (cells[i]!.trim() === "" ? [] : [[f, cells[i]!.trim()]])),
    );
  });
}

async function readBatchFile(
  path: string,
  cwd: string,
  command: readonly string[],
): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(resolve(cwd, path), "utf8");
  } catch (error) {
    throw new UsageError(
      `--file: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? error})`,
      command,
    );
  }
  if (extname(path).toLowerCase() === ".csv") return { items: csvItems(text, command) };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new UsageError(
      `--file: ${path} is neither .csv nor valid JSON (${(error as Error).message})`,
      command,
    );
  }
  // A JSON array of items, or a whole request body.
  return Array.isArray(parsed) ? { items: parsed } : (parsed as Record<string, unknown>);
}

/**
 * Follows a batch until it ends: a summary line whenever its counts change (`--json`: only the
 * last answer). Exit 0 when it completed; a failed or cancelled batch is exit 4.
 */
async function watchBatch(ctx: AnyContext, initial: Batch): Promise<number> {
  const interrupted = new AbortController();
  const stop = ctx.watch.onInterrupt(() => interrupted.abort());
  let batch = initial;
  let raw: unknown = initial;
  let last = "";
  try {
    for (;;) {
      const line = batchSummaryLine(batch, ctx.style);
      if (!ctx.json && line !== last) ctx.stdout.write(`${line}\n`);
      last = line;
      if (["completed", "failed", "cancelled"].includes(batch.status)) break;
      await new Promise<void>((done) => {
        const timer = setTimeout(done, ctx.watch.intervalMs);
        const onAbort = () => {
          clearTimeout(timer);
          done();
        };
        interrupted.signal.addEventListener("abort", onAbort, { once: true });
      });
      if (interrupted.signal.aborted) {
        throw new InterruptedError(
          `stopped watching; the batch goes on ('tenant-provisioning batch show ${batch.id} --watch' to follow it again)`,
        );
      }
      const res = await ctx.api.call("getBatch", { params: { id: batch.id }, query: { limit: 1 } });
      batch = res.data;
      raw = res.raw;
    }
  } finally {
    stop();
  }
  if (ctx.json) ctx.stdout.write(json(raw));
  else if (batch.error) ctx.stdout.write(`${batch.error}\n`);
  if (batch.status !== "completed") throw new RunFailedError(batch.id, batch.status);
  return 0;
}

function showOrWatch(ctx: AnyContext, res: ApiResponse<Batch>, watch: boolean, note = ""): Promise<number> {
  if (watch) {
    if (!ctx.json && note) ctx.stdout.write(note);
    return watchBatch(ctx, res.data);
  }
  ctx.emit(res.raw, () => note + batchDetails(res.data, ctx.style));
  return Promise.resolve(0);
}

export const batchCommands: readonly Command[] = [
  defineCommand({
    path: ["provision", "bulk"],
    summary: "Provision many tenants as one batch, from a CSV or JSON file",
    description:
      "A .csv file has a header row (slug, name, subdomain, adminName, adminEmail, and templateId unless\n" +
      "--template names one template for every row); any other file is JSON: an array of items or a whole\n" +
      "request ({items, maxConcurrency, toleratedFailurePercent}), each item a provisioning request with\n" +
      "templateId or an inline template. Admins are invited (the welcome notification carries a\n" +
      "set-password link) unless an item gives adminPassword. The whole file is checked first: one\n" +
      "invalid item refuses the batch, and every invalid item is listed. With --at the batch is written\n" +
      "now, every item's slug and subdomain reserved, and started at that time ('schedules list --kind\n" +
      "batch' shows it waiting, 'schedules cancel <id>' cancels it and frees the names).",
    args: [],
    options: {
      file: { type: "string", value: "tenants.csv|tenants.json", required: true, description: "the tenants" },
      template: { type: "string", value: "TEMPLATE_ID", description: "the template of items that name none" },
      "max-concurrency": {
        type: "string",
        value: "N",
        description: "children provisioning at once (1-100; default 10)",
      },
      "tolerated-failure-percent": {
        type: "string",
        value: "P",
        description: "failed children tolerated, in % of the items, before no more start (default 0)",
      },
      "idempotency-key": {
        type: "string",
        value: "KEY",
        description: "sent as Idempotency-Key: repeating the command with it starts no second batch",
      },
      at: {
        type: "string",
        value: "ISO",
        description:
          "start the batch then (ISO 8601 with a zone), not now; not with --watch or --idempotency-key",
      },
      watch: BATCH_WATCH,
    },
    examples: [
      "tenant-provisioning provision bulk --file schools.csv --template <templateId> --max-concurrency 5 --watch",
      "tenant-provisioning provision bulk --file batch.json --tolerated-failure-percent 10",
      "tenant-provisioning provision bulk --file schools.csv --template <templateId> --at 2030-08-15T06:00:00Z",
    ],
    async run(ctx) {
      const command = ["provision", "bulk"];
      const file = await readBatchFile(ctx.flags.file, ctx.cwd, command);
      const items = Array.isArray(file.items)
        ? (file.items as Record<string, unknown>[]).map((i) => ({
            ...(ctx.flags.template && i.template === undefined ? { templateId: ctx.flags.template } : {}),
            ...i,
            subdomain: i.subdomain ?? i.slug,
          }))
        : file.items;
      const number = (v: string | undefined) => (v === undefined ? undefined : Number(v));
      const body = parseFlags(
        createBatchSchema,
        definedOnly({
          ...file,
          items,
          maxConcurrency: number(ctx.flags["max-concurrency"]) ?? file.maxConcurrency,
          toleratedFailurePercent:
            number(ctx.flags["tolerated-failure-percent"]) ?? file.toleratedFailurePercent,
        }),
        // Items stay under --file with their index: `--file: items[3].slug: …`.
        {
          maxConcurrency: "--max-concurrency",
          toleratedFailurePercent: "--tolerated-failure-percent",
        },
        "--file",
        command,
      );
      const key = ctx.flags["idempotency-key"];
      if (ctx.flags.at !== undefined) {
        if (ctx.flags.watch || key !== undefined) {
          throw new UsageError(
            "--at schedules the batch: it takes neither --watch nor --idempotency-key",
            command,
          );
        }
        const scheduled = parseFlags(
          scheduleBatchSchema,
          { ...body, at: ctx.flags.at },
          {
            at: "--at",
            maxConcurrency: "--max-concurrency",
            toleratedFailurePercent: "--tolerated-failure-percent",
          },
          "--file",
          command,
        );
        const res = await ctx.api.call("scheduleBatch", { body: scheduled });
        ctx.emit(res.raw, () => scheduleDetails(res.data, ctx.style));
        return 0;
      }
      const res = await ctx.api.call("createBatch", {
        body,
        ...(key !== undefined ? { headers: { "idempotency-key": key } } : {}),
      });
      const note =
        res.headers.get("idempotent-replay") === "true"
          ? "This Idempotency-Key was used before: this is the batch it started, not a new one.\n"
          : "";
      return showOrWatch(ctx, res, ctx.flags.watch, note);
    },
  }),
  defineCommand({
    path: ["batch", "show"],
    summary: "Show a batch: its children's counts, the failure budget, and its children",
    args: ["id"],
    options: {
      status: {
        type: "string",
        value: "STATUS",
        description: `only children in this status (${RUN_STATUSES.join(", ")})`,
      },
      limit: { type: "string", value: "N", description: "at most N children (1-200; default 50)" },
      offset: { type: "string", value: "N", description: "skip the first N children" },
      watch: BATCH_WATCH,
    },
    examples: [
      "tenant-provisioning batch show <batchId> --status failed",
      "tenant-provisioning batch show <batchId> --watch",
    ],
    async run(ctx) {
      const query = { status: ctx.flags.status, limit: ctx.flags.limit, offset: ctx.flags.offset };
      parseFlags(
        getBatchQuerySchema,
        definedOnly(query),
        { status: "--status", limit: "--limit", offset: "--offset" },
        "options",
        ["batch", "show"],
      );
      const res = await ctx.api.call("getBatch", { params: { id: ctx.args.id }, query });
      return showOrWatch(ctx, res, ctx.flags.watch);
    },
  }),
  defineCommand({
    path: ["batch", "cancel"],
    summary: "Cancel a batch: no more children start, and those not ended are cancelled",
    description:
      "Children that completed stay; running children are cancelled as by 'progress cancel' (each can then\n" +
      "be cleaned up or retried); 'batch retry' brings every child that did not complete back.",
    args: ["id"],
    options: {},
    examples: ["tenant-provisioning batch cancel <batchId>"],
    async run(ctx) {
      const res = await ctx.api.call("cancelBatch", { params: { id: ctx.args.id } });
      ctx.emit(res.raw, () => batchDetails(res.data, ctx.style));
      return 0;
    },
  }),
  defineCommand({
    path: ["batch", "retry"],
    summary: "Retry every child of an ended batch that did not complete, in one call",
    description:
      "Failed and cancelled children resume from their first unfinished step, never-started ones start;\n" +
      "the batch runs again as a new attempt, with its concurrency and a fresh failure budget.",
    args: ["id"],
    options: { watch: BATCH_WATCH },
    examples: ["tenant-provisioning batch retry <batchId> --watch"],
    async run(ctx) {
      const res = await ctx.api.call("retryBatch", { params: { id: ctx.args.id } });
      return showOrWatch(ctx, res, ctx.flags.watch);
    },
  }),
];
