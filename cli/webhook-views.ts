/** Human output of the `webhooks` commands: subscriptions, deliveries and their attempts. */
import type { z } from "zod";
import type {
  deliveryDetailSchema,
  deliverySchema,
  webhookSchema,
  webhookWithSecretSchema,
} from "../functions/schemas/events.ts";
import { colorStatus, details, formatDuration, formatTime, type Style, table } from "./render.ts";

type Webhook = z.output<typeof webhookSchema>;
type Delivery = z.output<typeof deliverySchema>;

const webhookStatus = (status: Webhook["status"], style: Style) =>
  status === "active" ? style.green(status) : style.red(status);

const deliveryStatus = (status: string, style: Style) =>
  status === "succeeded" ? style.green(status) : colorStatus(status, style);

export function webhookList(hooks: readonly Webhook[], style: Style): string {
  return table(
    hooks,
    [
      { header: "ID", value: (w) => w.id },
      {
        header: "STATUS",
        value: (w) => webhookStatus(w.status, style),
      },
      { header: "FAILURES", value: (w) => String(w.consecutiveFailures), right: true },
      { header: "EVENTS", value: (w) => w.eventTypes.join(",") },
      { header: "URL", value: (w) => w.url },
    ],
    style,
  );
}

export function webhookDetails(w: Webhook, style: Style): string {
  return details(
    [
      ["ID", w.id],
      ["URL", w.url],
      ["Events", w.eventTypes.join(", ")],
      ["Description", w.description ?? undefined],
      ["Status", webhookStatus(w.status, style)],
      ["Disabled", w.disabledAt ? `${formatTime(w.disabledAt)} (${w.disabledReason ?? "?"})` : undefined],
      [
        "Failures",
        w.consecutiveFailures > 0
          ? `${w.consecutiveFailures} in a row since ${formatTime(w.failingSince)}`
          : undefined,
      ],
      ["Last success", w.lastSuccessAt ? formatTime(w.lastSuccessAt) : undefined],
      ["Old secret until", w.previousSecretExpiresAt ? formatTime(w.previousSecretExpiresAt) : undefined],
      ["Created", formatTime(w.createdAt)],
    ],
    style,
  );
}

/** The one answer that shows the signing secret. */
export function webhookWithSecret(w: z.output<typeof webhookWithSecretSchema>, style: Style): string {
  return (
    webhookDetails(w, style) +
    `\n${style.bold("Signing secret")}: ${w.secret}\n` +
    style.yellow(
      "This is the only time the secret is shown; store it where the receiver verifies signatures.",
    ) +
    "\n"
  );
}

export function deliveryList(deliveries: readonly Delivery[], style: Style): string {
  return table(
    deliveries,
    [
      { header: "ID", value: (d) => d.id },
      { header: "EVENT", value: (d) => d.eventType },
      { header: "STATUS", value: (d) => deliveryStatus(d.status, style) },
      { header: "ATTEMPTS", value: (d) => String(d.attempts), right: true },
      {
        header: "LAST",
        value: (d) =>
          d.lastResponseStatus === null ? (d.lastError ? "error" : "") : String(d.lastResponseStatus),
      },
      { header: "NEXT", value: (d) => formatTime(d.nextAttemptAt) },
      { header: "CREATED", value: (d) => formatTime(d.createdAt) },
    ],
    style,
  );
}

export function deliveryDetails(d: z.output<typeof deliveryDetailSchema>, style: Style): string {
  const head = details(
    [
      ["ID", d.id],
      ["Event", `${d.eventType} ${d.eventId} (the webhook-id header)`],
      ["Status", deliveryStatus(d.status, style)],
      ["Attempts", String(d.attempts)],
      ["Next attempt", d.nextAttemptAt ? formatTime(d.nextAttemptAt) : undefined],
      ["Delivered", d.deliveredAt ? formatTime(d.deliveredAt) : undefined],
    ],
    style,
  );
  const attempts = table(
    d.attemptLog,
    [
      { header: "#", value: (a) => String(a.attempt), right: true },
      { header: "AT", value: (a) => formatTime(a.attemptedAt) },
      { header: "OUTCOME", value: (a) => deliveryStatus(a.outcome, style) },
      {
        header: "HTTP",
        value: (a) => (a.responseStatus === null ? "" : String(a.responseStatus)),
        right: true,
      },
      { header: "LATENCY", value: (a) => formatDuration(a.latencyMs), right: true },
      { header: "ERROR", value: (a) => a.error ?? "" },
    ],
    style,
  );
  return `${head}\n${attempts}`;
}

export function deliveryLine(d: Delivery, style: Style): string {
  return `${details(
    [
      ["Delivery", d.id],
      ["Event", `${d.eventType} ${d.eventId}`],
      ["Status", deliveryStatus(d.status, style)],
    ],
    style,
  )}`;
}
