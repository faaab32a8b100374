/**
 * The run kinds, one entry each. Adding a kind: add its name to `RUN_KINDS`
 * (functions/schemas/progress.ts), its steps to the step catalog, its ASL file to `statemachines/`
 * and its definition here — the compiler points at everything else.
 */
import type { RunKind } from "../../schemas/progress.ts";
import { batchRunKind } from "../batches/run-definition.ts";
import { deprovisionRunKind } from "../deprovisioning/run-definition.ts";
import { provisionRunKind } from "../provisioning/run-definition.ts";
import { restoreRunKind } from "../restore/run-definition.ts";
import { rolloutRunKind, upgradeRunKind } from "../rollouts/run-definition.ts";
import type { RunKindDefinition } from "./run-kind.ts";

export const RUN_KIND_REGISTRY: { readonly [K in RunKind]: RunKindDefinition<K> } = {
  provision: provisionRunKind,
  deprovision: deprovisionRunKind,
  restore: restoreRunKind,
  batch: batchRunKind,
  upgrade: upgradeRunKind,
  rollout: rolloutRunKind,
};
