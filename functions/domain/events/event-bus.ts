/**
 * Where lifecycle events are published: an EventBridge bus in AWS (eventbridge-bus.ts), the log
 * locally. Both take at most `PUT_EVENTS_MAX_ENTRIES` entries a call and refuse an entry over
 * `PUT_EVENTS_MAX_ENTRY_BYTES` as PutEvents does, so the local stand-in is never looser than AWS.
 */
import type { Logger } from "../../shared/logger.ts";

/** PutEvents takes at most 10 entries per request (EventBridge API reference, PutEvents `Entries`). */
export const PUT_EVENTS_MAX_ENTRIES = 10;
/** A PutEvents entry is at most 256 KB (EventBridge quotas; size as "Calculating PutEvents entry size"). */
export const PUT_EVENTS_MAX_ENTRY_BYTES = 256 * 1024;

export interface BusEntry {
  readonly source: string;
  readonly detailType: string;
  /** The event's JSON (its body). */
  readonly detail: string;
  readonly time: Date;
}

/** Per entry, in order: accepted, or the error EventBridge gave. */
export type PutResult = { readonly ok: true } | { readonly ok: false; readonly error: string };

export interface EventBus {
  put(entries: readonly BusEntry[]): Promise<PutResult[]>;
}

/** An entry's size as EventBridge counts it: Time (14), Source, DetailType and Detail in UTF-8. */
export function entrySize(entry: BusEntry): number {
  return (
    14 +
    Buffer.byteLength(entry.source, "utf8") +
    Buffer.byteLength(entry.detailType, "utf8") +
    Buffer.byteLength(entry.detail, "utf8")
  );
}

/** Throws when a request breaks PutEvents' limits (the caller's bug, never retried). */
export function assertPutEventsRequest(entries: readonly BusEntry[]): void {
  if (entries.length === 0 || entries.length > PUT_EVENTS_MAX_ENTRIES) {
    throw new Error(`PutEvents takes 1 to ${PUT_EVENTS_MAX_ENTRIES} entries, not ${entries.length}`);
  }
}

/** The local stand-in: each accepted event is a log line; an oversized entry fails as in AWS. */
export function logEventBus(logger: Logger): EventBus {
  return {
    put: async (entries) => {
      assertPutEventsRequest(entries);
      return entries.map((entry) => {
        const size = entrySize(entry);
        if (size > PUT_EVENTS_MAX_ENTRY_BYTES) {
          return {
            ok: false,
            error: `entry is ${size} bytes; PutEvents allows ${PUT_EVENTS_MAX_ENTRY_BYTES}`,
          };
        }
        logger.info("event published", { type: entry.detailType, source: entry.source, bytes: size });
        return { ok: true };
      });
    },
  };
}
