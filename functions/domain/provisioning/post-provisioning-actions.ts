/**
 * The named post-provisioning actions a template may list. The Map state runs them one by one;
 * each commits with its completion mark, so a retried action never does its work twice. A template
 * naming an unknown action, or one whose tenant migration it lacks, is rejected when the template
 * is validated (template-rules.ts), not at run time.
 */
import { sql } from "drizzle-orm";
import type { PostProvisioningAction } from "../../schemas/templates.ts";
import type { Notification, NotificationChannel } from "../notifications/notification-channel.ts";
import type { AtomicStatement, StepContext } from "../steps/run-step.ts";
import { tenantSchemaName } from "../tenants/tenant-schema.ts";
import { invitationLink, invitationTokenHash, issueInvitationToken } from "./admin-invitations.ts";
import type { RunSpec } from "./run-spec.ts";

interface ActionBase {
  readonly description: string;
  /** Tenant migrations the action's tables come from. */
  readonly requires: readonly string[];
}

/**
 * An action is either statements only — run with the completion mark as ONE statement
 * (`runAtomicStep`) — or work that needs the step's transaction (reads, a notification channel).
 */
export type PostProvisioningActionDefinition =
  | (ActionBase & { statements(spec: RunSpec): readonly AtomicStatement[] })
  | (ActionBase & {
      run(ctx: StepContext, spec: RunSpec): Promise<void>;
      /**
       * The work as statements when it needs no read and `channel` takes statements; undefined
       * otherwise (`run` does it, in the step's transaction).
       */
      statementsIfPossible?(
        spec: RunSpec,
        progressId: string,
        channel: NotificationChannel,
      ): readonly AtomicStatement[] | undefined;
    });

/** The welcome message, without the invitation link (which `run` adds when it issues one). */
function welcomeNotification(spec: RunSpec, progressId: string): Notification {
  return {
    tenantId: spec.tenantId,
    progressId,
    recipient: spec.metadata.admin.email,
    kind: "welcome",
    payload: {
      adminName: spec.metadata.admin.name,
      tenantName: spec.metadata.tenant.name,
      subdomain: spec.metadata.tenant.subdomain,
    },
    dedupeKey: `welcome:${progressId}`,
  };
}

const qualified = (spec: RunSpec, table: string) =>
  sql.raw(`"${tenantSchemaName(spec.tenantId)}"."${table}"`);

export const POST_PROVISIONING_REGISTRY: Record<PostProvisioningAction, PostProvisioningActionDefinition> = {
  "send-welcome-notification": {
    description: "Sends the tenant administrator a welcome message",
    requires: [],
    // An invited admin's link needs a token issued in the step's transaction; without one, the
    // message is known beforehand, and the local outbox takes it with the completion mark.
    statementsIfPossible(spec, progressId, channel) {
      if (spec.metadata.admin.invitation || !channel.sendStatement) return undefined;
      return [{ run: channel.sendStatement(welcomeNotification(spec, progressId)) }];
    },
    async run(ctx, spec) {
      const welcome = welcomeNotification(spec, ctx.progress.id);
      const payload: Record<string, unknown> = { ...welcome.payload };
      let dedupeKey = welcome.dedupeKey;
      const invitation = spec.metadata.admin.invitation;
      if (invitation) {
        const issued = await issueInvitationToken(ctx.tx, ctx.progress.id, ctx.now, invitation.ttlHours);
        if (issued) {
          payload.setPasswordUrl = invitationLink(invitation.baseUrl, issued.token);
          payload.invitationExpiresAt = issued.expiresAt.toISOString();
          // A step retried after its transaction rolled back issues another token; the queue
          // (not transactional in AWS) must deliver that message too, not drop it as a duplicate.
          dedupeKey = `welcome:${ctx.progress.id}:${invitationTokenHash(issued.token).slice(0, 16)}`;
        }
      }
      await ctx.deps.notifications.send(ctx.tx, { ...welcome, payload, dedupeKey });
    },
  },
  "create-default-reports": {
    description: "Creates the standard report definitions",
    requires: ["reports"],
    statements: (spec) => [
      {
        cell: true,
        run: sql`
        INSERT INTO ${qualified(spec, "report_definitions")} (name, query_kind, parameters) VALUES
          ('Monthly spend by school', 'spend_by_school', '{"period":"month"}'::jsonb),
          ('Open orders', 'open_orders', '{}'::jsonb),
          ('Top products', 'top_products', '{"limit":20}'::jsonb)
        ON CONFLICT (name) DO NOTHING`,
      },
    ],
  },
  "enable-integrations": {
    description: "Registers the ERP and e-invoicing integrations (disabled until configured)",
    requires: ["integrations"],
    statements: (spec) => [
      {
        cell: true,
        run: sql`
        INSERT INTO ${qualified(spec, "integration_endpoints")} (kind, enabled, settings) VALUES
          ('erp', false, '{}'::jsonb), ('einvoice', false, '{}'::jsonb)
        ON CONFLICT (kind) DO NOTHING`,
      },
    ],
  },
  "record-onboarding-checklist": {
    description: "Stores the onboarding checklist in the tenant configuration",
    requires: ["core"],
    statements(spec) {
      const checklist = JSON.stringify([
        "invite users",
        "import products",
        "configure approvals",
        "place first order",
      ]);
      return [
        {
          cell: true,
          run: sql`
        INSERT INTO ${qualified(spec, "configurations")} (key, value, source) VALUES ('onboarding.checklist', ${checklist}::jsonb, 'post_provisioning')
        ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()`,
        },
      ];
    },
  },
};
