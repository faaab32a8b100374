/**
 * Who asked for a change, recorded with every audit entry: the API key and the request, or null
 * for the service itself (seeding the default templates, a schedule falling due).
 */
export interface Actor {
  readonly keyId: string | null;
  readonly requestId: string | null;
}
