/**
 * Waiting out an auto-paused Aurora cluster (functions/db/resume-wait.ts): DatabaseResumingException
 * is sent again within the budget, anything else at once; the RDS Data client is mocked with
 * aws-sdk-client-mock (reset after each test).
 */
import {
  BadRequestException,
  DatabaseResumingException,
  ExecuteStatementCommand,
  RDSDataClient,
} from "@aws-sdk/client-rds-data";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, describe, expect, it } from "vitest";
import { sendWaitingForResume, waitingForResume } from "../../functions/db/resume-wait.ts";
import { isDatabaseResuming } from "../../functions/shared/errors.ts";

const resuming = () =>
  new DatabaseResumingException({
    message: "The Aurora DB instance is resuming after being auto-paused.",
    $metadata: {},
  });

/** A clock that moves only when the code under test sleeps. */
function fakeTime() {
  let now = 0;
  const sleeps: number[] = [];
  return {
    sleeps,
    options: {
      now: () => now,
      sleep: async (ms: number) => {
        sleeps.push(ms);
        now += ms;
      },
    },
  };
}

const rdsMock = mockClient(RDSDataClient);
afterEach(() => rdsMock.reset());

describe("sendWaitingForResume", () => {
  it("sends again after 1 s, 2 s, 4 s... while the database resumes, then returns the answer", async () => {
    // Prepare
    const time = fakeTime();
    let calls = 0;
    const send = async () => {
      calls++;
      if (calls <= 3) throw resuming();
      return "rows";
    };

    // Act
    const result = await sendWaitingForResume(send, { maxWaitMs: 20_000, ...time.options });

    // Assess
    expect(result).toBe("rows");
    expect(calls).toBe(4);
    expect(time.sleeps).toEqual([1000, 2000, 4000]);
  });

  it("gives up (rethrows) when the next wait would pass the budget", async () => {
    // Prepare
    const time = fakeTime();
    let calls = 0;
    const send = async () => {
      calls++;
      throw resuming();
    };

    // Act
    const error = await sendWaitingForResume(send, { maxWaitMs: 10_000, ...time.options }).catch(
      (e: unknown) => e,
    );

    // Assess
    expect(isDatabaseResuming(error)).toBe(true);
    // 1 + 2 + 4 = 7 s waited; 5 s more (the cap) would make 12 s.
    expect(time.sleeps).toEqual([1000, 2000, 4000]);
    expect(calls).toBe(4);
  });

  it("does not retry any other error", async () => {
    // Prepare
    const time = fakeTime();
    let calls = 0;
    const send = async () => {
      calls++;
      throw new BadRequestException({ message: "syntax error", $metadata: {} });
    };

    // Act
    const error = await sendWaitingForResume(send, { maxWaitMs: 10_000, ...time.options }).catch(
      (e: unknown) => e,
    );

    // Assess
    expect(error).toBeInstanceOf(BadRequestException);
    expect(calls).toBe(1);
    expect(time.sleeps).toEqual([]);
  });

  it("recognises the exception behind drizzle's wrapper (its cause)", () => {
    const wrapped = new Error("Failed query: select 1", { cause: resuming() });

    expect(isDatabaseResuming(wrapped)).toBe(true);
    expect(isDatabaseResuming(new Error("Failed query", { cause: new Error("boom") }))).toBe(false);
  });
});

describe("waitingForResume", () => {
  it("gives the Data API client a send that waits for the resume", async () => {
    // Prepare
    const client = new RDSDataClient({ region: "eu-west-1" });
    rdsMock.on(ExecuteStatementCommand).rejectsOnce(resuming()).resolves({ numberOfRecordsUpdated: 1 });
    const time = fakeTime();
    const waiting = waitingForResume(client, { maxWaitMs: 5000, ...time.options });

    // Act
    const out = await waiting.send(
      new ExecuteStatementCommand({ resourceArn: "a", secretArn: "s", sql: "select 1" }),
    );

    // Assess
    expect(out.numberOfRecordsUpdated).toBe(1);
    expect(rdsMock.commandCalls(ExecuteStatementCommand)).toHaveLength(2);
    expect(time.sleeps).toEqual([1000]);
    expect(waiting.config).toBe(client.config);
  });

  it("leaves the client alone with a budget of 0", () => {
    const client = new RDSDataClient({ region: "eu-west-1" });

    expect(waitingForResume(client, { maxWaitMs: 0 })).toBe(client);
  });
});
