/**
 * The question asked before a command removes something (a tenant, a template). On a terminal the
 * operator answers it; a script, which has no terminal to answer on, must say `--yes` — running on
 * without asking would make the safety depend on how the command happened to be started.
 */
import type { CommandContext, OptionSpecs } from "./command.ts";
import { DeclinedError } from "./errors.ts";
import { readLine } from "./password.ts";

export const YES_OPTION = {
  type: "boolean",
  description: "do not ask for confirmation (needed without a terminal, e.g. in scripts)",
} as const;

/**
 * Without `--yes` and without a terminal on stdin: a usage error. Called before any request, so a
 * script that forgot `--yes` has changed nothing.
 */
export function requireTerminalOrYes(
  ctx: CommandContext<OptionSpecs, readonly string[]>,
  yes: boolean,
  what: string,
): void {
  if (!yes && !ctx.stdin.isTTY) {
    throw ctx.usage(`${what} asks for confirmation on a terminal; without one (a script), pass --yes`);
  }
}

/** `question` (it may span lines) on stderr, then a y/N answer: anything but y/yes is a DeclinedError (exit 6). */
export async function confirm(
  ctx: CommandContext<OptionSpecs, readonly string[]>,
  question: string,
): Promise<void> {
  ctx.stderr.write(`${question}\nContinue? [y/N] `);
  const answer = (await readLine(ctx.stdin)).trim().toLowerCase();
  if (answer !== "y" && answer !== "yes") throw new DeclinedError();
}
