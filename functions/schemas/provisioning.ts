/** Provisioning requests (from a template, or custom with an inline spec). */
import { z } from "zod";
import { dnsLabelSchema, instantSchema, isoDateTime } from "./common.ts";
import { initialDataSchema, templateSpecSchema } from "./templates.ts";

export const MIN_PASSWORD_LENGTH = 12;

export const provisionFields = {
  slug: dnsLabelSchema,
  name: z.string().trim().min(1).max(255),
  subdomain: dnsLabelSchema,
  adminName: z.string().trim().min(1).max(255),
  adminEmail: z.email({ message: "must be an email address" }).max(320),
  /**
   * Optional: without it the admin is created with no password and invited by the welcome
   * notification (a single-use, expiring set-password link).
   */
  adminPassword: z
    .string()
    .min(MIN_PASSWORD_LENGTH, `must be at least ${MIN_PASSWORD_LENGTH} characters`)
    .max(1024)
    .optional(),
  /** Added to the template's initial data (entries with the same sku / email replace the template's). */
  initialData: initialDataSchema.optional(),
};

export const provisionFromTemplateSchema = z.strictObject(provisionFields);
export type ProvisionFromTemplate = z.infer<typeof provisionFromTemplateSchema>;

export const provisionCustomSchema = z.strictObject({
  ...provisionFields,
  template: templateSpecSchema,
});
export type ProvisionCustom = z.infer<typeof provisionCustomSchema>;

/** `POST /templates/:id/schedule-provision`: a provisioning request and when to run it. */
export const scheduleProvisionSchema = z.strictObject({
  at: instantSchema("2030-01-31T09:00:00Z"),
  ...provisionFields,
});
export type ScheduleProvisionRequest = z.infer<typeof scheduleProvisionSchema>;

/** Accepting an admin invitation: the token from the set-password link and the new password. */
export const acceptInvitationSchema = z.strictObject({
  token: z.string().regex(/^[A-Za-z0-9_-]{43}$/, "must be the token of an invitation link"),
  password: z
    .string()
    .min(MIN_PASSWORD_LENGTH, `must be at least ${MIN_PASSWORD_LENGTH} characters`)
    .max(1024),
});
export type AcceptInvitation = z.infer<typeof acceptInvitationSchema>;

export const acceptedInvitationSchema = z.object({
  tenantId: z.uuid(),
  email: z.string(),
  acceptedAt: isoDateTime,
});
