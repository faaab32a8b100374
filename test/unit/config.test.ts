import { describe, expect, it } from "vitest";
import {
  bundledDirectoryFromEnv,
  ConfigError,
  ENVIRONMENT_VARIABLES,
  isEnvironmentVariable,
  loadConfig,
  requireSetting,
  requireStateMachineArns,
  STATE_MACHINE_ARN_VARIABLES,
  stateMachineArnVariable,
} from "../../functions/shared/config.ts";

/** Runs loadConfig and returns the ConfigError it throws (fails the test if it does not throw one). */
function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe("loadConfig", () => {
  it("defaults to port 3000, .data and embedded PGlite under .data/pglite", () => {
    // Prepare
    const env = {};

    // Act
    const config = loadConfig(env);

    // Assess
    expect(config.port).toBe(3000);
    expect(config.dataDir).toBe(".data");
    expect(config.database).toEqual({ kind: "pglite", dataDir: ".data/pglite" });
    expect(config.logLevel).toBe("info");
  });

  it("puts PGlite under a custom DATA_DIR and reads PORT", () => {
    // Act
    const config = loadConfig({ DATA_DIR: "/tmp/somewhere", PORT: "8080" });

    // Assess
    expect(config.port).toBe(8080);
    expect(config.dataDir).toBe("/tmp/somewhere");
    expect(config.database).toEqual({ kind: "pglite", dataDir: "/tmp/somewhere/pglite" });
  });

  it("treats empty variables as unset", () => {
    // Act
    const config = loadConfig({ DATABASE_URL: "", DB_CLUSTER_ARN: " ", DB_SECRET_ARN: "", DB_NAME: "" });

    // Assess
    expect(config.database.kind).toBe("pglite");
  });

  it.each(["postgres://user:pw@db.example:5432/app", "postgresql://localhost/app"])(
    "uses PostgreSQL when DATABASE_URL is %s",
    (url) => {
      // Act
      const config = loadConfig({ DATABASE_URL: url });

      // Assess
      expect(config.database).toEqual({ kind: "postgres", url, connectionMaxLifetimeSeconds: 300 });
    },
  );

  it("uses the RDS Data API when DB_CLUSTER_ARN, DB_SECRET_ARN and DB_NAME are all set", () => {
    // Prepare
    const env = {
      DB_CLUSTER_ARN: "arn:aws:rds:eu-west-1:123456789012:cluster:cp",
      DB_SECRET_ARN: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:cp",
      DB_NAME: "control_plane",
    };

    // Act
    const config = loadConfig(env);

    // Assess
    expect(config.database).toEqual({
      kind: "data-api",
      clusterArn: env.DB_CLUSTER_ARN,
      secretArn: env.DB_SECRET_ARN,
      database: "control_plane",
      // API Gateway's Lambdas get less (CDK sets DATABASE_RESUME_WAIT_SECONDS).
      resumeWaitSeconds: 20,
    });
  });

  it.each([
    [{ DB_CLUSTER_ARN: "arn:c" }, ["DB_SECRET_ARN", "DB_NAME"]],
    [{ DB_CLUSTER_ARN: "arn:c", DB_SECRET_ARN: "arn:s" }, ["DB_NAME"]],
    [{ DB_NAME: "cp" }, ["DB_CLUSTER_ARN", "DB_SECRET_ARN"]],
  ])("rejects a partial Data API trio %j, naming the missing variables", (env, missing) => {
    // Act
    const error = configError(env);

    // Assess
    for (const name of missing) expect(error.message).toContain(`${name}:`);
    expect(error.name).toBe("ConfigError");
  });

  it("rejects DATABASE_URL together with the Data API trio", () => {
    // Act
    const error = configError({
      DATABASE_URL: "postgres://localhost/app",
      DB_CLUSTER_ARN: "arn:c",
      DB_SECRET_ARN: "arn:s",
      DB_NAME: "cp",
    });

    // Assess
    expect(error.message).toContain("DATABASE_URL");
  });

  it.each(["abc", "-1", "65536", "80.5"])("rejects PORT=%s naming PORT", (port) => {
    // Act
    const error = configError({ PORT: port });

    // Assess
    expect(error.message).toMatch(/\bPORT:/);
  });

  it.each(["mysql://localhost/app", "http://localhost:5432", "localhost:5432"])(
    "rejects a non-postgres DATABASE_URL %s naming DATABASE_URL",
    (url) => {
      // Act
      const error = configError({ DATABASE_URL: url });

      // Assess
      expect(error.message).toContain("DATABASE_URL:");
      expect(error.message).toContain("postgres://");
    },
  );

  it("has main as the only cell without TENANT_CELLS, and reads cells as a list of URLs or as JSON", () => {
    // Act
    const none = loadConfig({});
    const listed = loadConfig({
      TENANT_CELLS: "east=postgres://u@db-east:5432/tenants,postgresql://u@db-west/tenants_west",
      DATABASE_CONNECTION_MAX_LIFETIME_SECONDS: "120",
    });
    const json = loadConfig({
      TENANT_CELLS: JSON.stringify([
        {
          name: "eu-2",
          clusterArn: "arn:aws:rds:eu-west-1:123456789012:cluster:cell-eu-2",
          secretArn: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:cell-eu-2-AbCdEf",
          database: "tenants",
        },
      ]),
    });

    // Assess
    expect(none.cells).toEqual([]);
    expect(listed.cells).toEqual([
      {
        name: "east",
        database: {
          kind: "postgres",
          url: "postgres://u@db-east:5432/tenants",
          connectionMaxLifetimeSeconds: 120,
        },
      },
      {
        name: "tenants-west",
        database: {
          kind: "postgres",
          url: "postgresql://u@db-west/tenants_west",
          connectionMaxLifetimeSeconds: 120,
        },
      },
    ]);
    expect(json.cells).toEqual([
      {
        name: "eu-2",
        database: {
          kind: "data-api",
          clusterArn: "arn:aws:rds:eu-west-1:123456789012:cluster:cell-eu-2",
          secretArn: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:cell-eu-2-AbCdEf",
          database: "tenants",
          resumeWaitSeconds: 20,
        },
      },
    ]);
  });

  it.each([
    ["a cell named main", "main=postgres://h/db", "control-plane database's own cell"],
    ["a name used twice", "a=postgres://h/x,a=postgres://h/y", "named twice"],
    ["a URL that is not postgres", "a=mysql://h/db", "postgres://"],
    ["a bad name", "East Side=postgres://h/db", "lower-case"],
    ["malformed JSON", "[{", "not valid JSON"],
    [
      "a cluster ARN that is not one",
      '[{"name":"a","clusterArn":"x","secretArn":"y","database":"d"}]',
      "TENANT_CELLS",
    ],
  ])("rejects TENANT_CELLS with %s, naming it", (_what, value, message) => {
    // Act
    const error = configError({ TENANT_CELLS: value });

    // Assess
    expect(error.message).toContain("TENANT_CELLS:");
    expect(error.message).toContain(message);
  });

  it("rejects an unknown LOG_LEVEL naming it", () => {
    // Act
    const error = configError({ LOG_LEVEL: "verbose" });

    // Assess
    expect(error.message).toContain("LOG_LEVEL:");
  });

  it("gives DatabaseUnavailableError a retry policy of its own: the ASL's 15 s, x2, 4 attempts, 60 s by default", () => {
    // Act
    const defaults = loadConfig({});
    const set = loadConfig({
      STEP_DB_UNAVAILABLE_RETRY_INTERVAL_SECONDS: "1",
      STEP_DB_UNAVAILABLE_RETRY_BACKOFF_RATE: "1.5",
      STEP_DB_UNAVAILABLE_RETRY_MAX_ATTEMPTS: "6",
      STEP_DB_UNAVAILABLE_RETRY_MAX_DELAY_SECONDS: "5",
      STEP_RETRY_INTERVAL_SECONDS: "3",
    });

    // Assess
    expect(defaults.unavailableRetry).toEqual({
      intervalSeconds: 15,
      backoffRate: 2,
      maxAttempts: 4,
      maxDelaySeconds: 60,
    });
    expect(set.unavailableRetry).toEqual({
      intervalSeconds: 1,
      backoffRate: 1.5,
      maxAttempts: 6,
      maxDelaySeconds: 5,
    });
    expect(set.retry.intervalSeconds).toBe(3);
  });

  it("rejects a malformed STEP_DB_UNAVAILABLE_RETRY_* value naming it", () => {
    // Act
    const error = configError({ STEP_DB_UNAVAILABLE_RETRY_MAX_ATTEMPTS: "many" });

    // Assess
    expect(error.message).toContain("STEP_DB_UNAVAILABLE_RETRY_MAX_ATTEMPTS:");
  });
});

describe("the variables the Lambdas read", () => {
  it("reads every workflow's state machine ARN from its variable", () => {
    // Prepare
    const env = Object.fromEntries(
      Object.entries(STATE_MACHINE_ARN_VARIABLES).map(([kind, variable]) => [
        variable,
        `arn:aws:states:eu-west-1:123456789012:stateMachine:${kind}`,
      ]),
    );

    // Act
    const config = loadConfig(env);

    // Assess
    expect(config.stateMachineArns).toEqual({
      provisioning: "arn:aws:states:eu-west-1:123456789012:stateMachine:provisioning",
      deprovisioning: "arn:aws:states:eu-west-1:123456789012:stateMachine:deprovisioning",
      restore: "arn:aws:states:eu-west-1:123456789012:stateMachine:restore",
      batch: "arn:aws:states:eu-west-1:123456789012:stateMachine:batch",
      upgrade: "arn:aws:states:eu-west-1:123456789012:stateMachine:upgrade",
      rollout: "arn:aws:states:eu-west-1:123456789012:stateMachine:rollout",
    });
    expect(requireStateMachineArns(config, "test")).toEqual(config.stateMachineArns);
    expect(stateMachineArnVariable("deprovisioning")).toBe("DEPROVISIONING_STATE_MACHINE_ARN");
  });

  it("names each missing state machine variable, and a malformed one", () => {
    const partial = loadConfig({
      PROVISIONING_STATE_MACHINE_ARN: "arn:aws:states:eu-west-1:123456789012:stateMachine:p",
    });

    expect(() => requireStateMachineArns(partial, "the API")).toThrow(
      /DEPROVISIONING_STATE_MACHINE_ARN: required by the API\n {2}RESTORE_STATE_MACHINE_ARN: required by the API/,
    );
    expect(configError({ RESTORE_STATE_MACHINE_ARN: "restore" }).message).toContain(
      "RESTORE_STATE_MACHINE_ARN: must be a state machine ARN",
    );
  });

  it("requireSetting returns a value and names the variable of a missing one", () => {
    expect(requireSetting("x", "ALERT_TOPIC_ARN", "the sweep")).toBe("x");
    expect(() => requireSetting(null, "ALERT_TOPIC_ARN", "the sweep")).toThrow(
      /ALERT_TOPIC_ARN: required by the sweep/,
    );
  });

  it("validates the bundled directories and the schedule dead-letter queue", () => {
    expect(bundledDirectoryFromEnv("MIGRATIONS_DIR", { MIGRATIONS_DIR: "/var/task/migrations" })).toBe(
      "/var/task/migrations",
    );
    expect(bundledDirectoryFromEnv("MIGRATIONS_DIR", {})).toBeUndefined();
    expect(() =>
      bundledDirectoryFromEnv("STATEMACHINES_DIR", { STATEMACHINES_DIR: "statemachines" }),
    ).toThrow(/STATEMACHINES_DIR: must be an absolute path/);
    expect(configError({ SCHEDULE_DEAD_LETTER_QUEUE_ARN: "dlq" }).message).toContain(
      "SCHEDULE_DEAD_LETTER_QUEUE_ARN: must be an SQS queue ARN",
    );
  });

  it("knows every variable it reads, and nothing else", () => {
    expect(isEnvironmentVariable("NOTIFICATION_SENDER")).toBe(true);
    expect(isEnvironmentVariable("PROVISIONING_STATE_MACHINE_ARN")).toBe(true);
    expect(isEnvironmentVariable("PROVISIONNG_STATE_MACHINE_ARN")).toBe(false);
    expect(ENVIRONMENT_VARIABLES).toContain("DATABASE_RESUME_WAIT_SECONDS");
  });
});
