/** The body of a provision request for a new tenant `slug` (its subdomain too), as tests send it. */
export function provisionBody(
  slug: string,
  adminPassword: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    slug,
    name: `Tenant ${slug}`,
    subdomain: slug,
    adminName: "Ada Admin",
    adminEmail: `admin@${slug}.example.org`,
    adminPassword,
    ...extra,
  };
}
