/**
 * What a notification says: subject, plain text and HTML, from its kind and payload. One renderer
 * for both runtimes: the SES sender Lambda (ses-sender.ts) and the local outbox worker (which logs
 * the message, or sends it by SMTP) render the same message from the same queued notification.
 */
import { z } from "zod";
import type { Notification, NotificationKind } from "./notification-channel.ts";

/** The e-mail header that carries a notification's dedupe key (SES and SMTP alike). */
export const DEDUPE_HEADER = "X-Tenant-Notification-Id";

export interface RenderedMessage {
  readonly subject: string;
  readonly text: string;
  readonly html: string;
}

/** The notification as queued: the outbox row, or the SQS message body. */
export type QueuedNotification = Pick<Notification, "kind" | "recipient" | "payload">;

const text = z.string().trim().min(1).max(500).optional().catch(undefined);

const welcomePayload = z.object({
  adminName: text,
  tenantName: text,
  subdomain: text,
  /** An invited admin's set-password link (single use) and when it stops working. */
  setPasswordUrl: z
    .url({ protocol: /^https?$/ })
    .max(2048)
    .optional()
    .catch(undefined),
  invitationExpiresAt: text,
});

const noticePayload = z.object({
  userName: text,
  tenantName: text,
  subdomain: text,
  gracePeriodHours: z.number().nonnegative().optional().catch(undefined),
  dataDeletedAfter: text,
});

const HTML_ESCAPES: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Payload values come from tenant data: never trusted as markup. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);
}

/** Paragraphs as text (blank-line separated) and as HTML (each escaped). */
function message(subject: string, paragraphs: readonly string[]): RenderedMessage {
  return {
    subject,
    text: `${paragraphs.join("\n\n")}\n`,
    html: `<!doctype html><html><body>${paragraphs.map((p) => `<p>${escapeHtml(p)}</p>`).join("")}</body></html>`,
  };
}

const RENDERERS: Record<NotificationKind, (payload: Record<string, unknown>) => RenderedMessage> = {
  welcome: (raw) => {
    const p = welcomePayload.parse(raw);
    const tenant = p.tenantName ?? "your organization";
    const ready = `${tenant} is ready${p.subdomain ? ` at ${p.subdomain}` : ""}. You are its administrator`;
    if (p.setPasswordUrl) {
      return message(`Welcome to ${tenant}`, [
        `Hello ${p.adminName ?? "there"},`,
        `${ready}: choose your password at ${p.setPasswordUrl}`,
        `The link works once${p.invitationExpiresAt ? `, until ${p.invitationExpiresAt} (UTC)` : ""}; then sign in with the e-mail address this message was sent to.`,
      ]);
    }
    return message(`Welcome to ${tenant}`, [
      `Hello ${p.adminName ?? "there"},`,
      `${ready}: sign in with the e-mail address this message was sent to and the password chosen when the tenant was requested.`,
    ]);
  },
  deprovisioning_notice: (raw) => {
    const p = noticePayload.parse(raw);
    const tenant = p.tenantName ?? "your organization";
    const hours = p.gracePeriodHours;
    return message(`${tenant} is being shut down`, [
      `Hello ${p.userName ?? "there"},`,
      `Access to ${tenant}${p.subdomain ? ` (${p.subdomain})` : ""} ends now.`,
      hours === undefined || hours === 0
        ? "Its data is then deleted; a backup is kept as the operators decided."
        : `Its data is deleted after a grace period of ${hours} hour${hours === 1 ? "" : "s"}${p.dataDeletedAfter ? ` (after ${p.dataDeletedAfter} UTC)` : ""}; until then an operator can still cancel the shutdown.`,
    ]);
  },
};

/** The message for a queued notification; an unknown kind is an error (a message no one can read). */
export function renderNotification(notification: QueuedNotification): RenderedMessage {
  const render = RENDERERS[notification.kind];
  if (!render) throw new Error(`no renderer for notification kind "${String(notification.kind)}"`);
  return render(notification.payload);
}
