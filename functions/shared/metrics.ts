/**
 * Custom CloudWatch metrics from Lambdas, written as CloudWatch embedded metric format (EMF)
 * documents: one JSON object per line whose `_aws.CloudWatchMetrics` tells CloudWatch Logs which
 * members are metrics (AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html).
 * No API call, no permission beyond writing the function's own log group. Written straight to
 * stdout: the Lambda runtime prefixes `console.log` lines with a timestamp and request id, and an
 * EMF document must be the whole log event.
 */

/** The namespace of the service's own metrics (alarms in lib/constructs/alarms.ts read them). */
export const METRICS_NAMESPACE = "TenantProvisioning";

/** A count metric: an execution that failed its run (not a cancellation, not a schedule that did not start). */
export const RUN_EXECUTIONS_FAILED = "RunExecutionsFailed";

export interface MetricPoint {
  readonly name: string;
  readonly value: number;
  readonly unit: "Count";
  /** Dimension name → value (at most 30 per the specification; we use one or two). */
  readonly dimensions: Readonly<Record<string, string>>;
}

/** The EMF document for one data point. */
export function emfDocument(point: MetricPoint, now: Date = new Date()): Record<string, unknown> {
  return {
    _aws: {
      Timestamp: now.getTime(),
      CloudWatchMetrics: [
        {
          Namespace: METRICS_NAMESPACE,
          Dimensions: [Object.keys(point.dimensions)],
          Metrics: [{ Name: point.name, Unit: point.unit }],
        },
      ],
    },
    ...point.dimensions,
    [point.name]: point.value,
  };
}

/** Writes a data point for CloudWatch to extract from the function's log. */
export function emitMetric(
  point: MetricPoint,
  write: (line: string) => void = (line) => process.stdout.write(line),
): void {
  write(`${JSON.stringify(emfDocument(point))}\n`);
}
