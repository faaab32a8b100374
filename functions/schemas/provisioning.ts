/** Provisioning requests (from a template, or custom with an inline spec). */
import { z } from "zod";
import { dnsLabelSchema } from "./common.ts";
import { initialDataSchema, templateSpecSchema } from "./templates.ts";

export const MIN_PASSWORD_LENGTH = 12;

const provisionFields = {
  slug: dnsLabelSchema,
  name: z.string().trim().min(1).max(255),
  subdomain: dnsLabelSchema,
  adminName: z.string().trim().min(1).max(255),
  adminEmail: z.email({ message: "must be an email address" }).max(320),
  adminPassword: z
    .string()
    .min(MIN_PASSWORD_LENGTH, `must be at least ${MIN_PASSWORD_LENGTH} characters`)
    .max(1024),
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
