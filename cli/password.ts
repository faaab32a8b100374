/**
 * Secrets from stdin, so that they need not sit in shell history or `ps` output: one line of a
 * pipe (`--admin-password-stdin`), or a prompt on a terminal that echoes nothing.
 */
import { InterruptedError } from "./errors.ts";

export interface InputStream extends NodeJS.EventEmitter {
  readonly isTTY?: boolean;
  setRawMode?(mode: boolean): unknown;
  setEncoding(encoding: BufferEncoding): unknown;
  resume(): unknown;
  pause(): unknown;
}

/** The first line of `input` (without its line ending), or everything when there is no newline. */
export function readLine(input: InputStream): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    const finish = (line: string) => {
      input.off("data", onData);
      input.off("end", onEnd);
      input.off("error", onError);
      input.pause();
      resolve(line.replace(/\r$/, ""));
    };
    const onData = (chunk: string) => {
      text += chunk;
      const nl = text.indexOf("\n");
      if (nl >= 0) finish(text.slice(0, nl));
    };
    const onEnd = () => finish(text);
    const onError = (error: unknown) => {
      input.off("data", onData);
      input.off("end", onEnd);
      reject(error);
    };
    input.setEncoding("utf8");
    input.on("data", onData);
    input.once("end", onEnd);
    input.once("error", onError);
    input.resume();
  });
}

/** Asks on `prompt` (stderr) and reads a line from a terminal in raw mode, echoing nothing. */
export function promptHidden(
  input: InputStream,
  prompt: { write(text: string): unknown },
  question: string,
): Promise<string> {
  return new Promise((resolve, reject) => {
    let value = "";
    const restore = () => {
      input.off("data", onData);
      input.setRawMode?.(false);
      input.pause();
      prompt.write("\n");
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === "\r" || ch === "\n") {
          restore();
          resolve(value);
          return;
        }
        if (ch === "\u0003" || (ch === "\u0004" && value === "")) {
          // Ctrl-C, or Ctrl-D on an empty line
          restore();
          reject(new InterruptedError());
          return;
        }
        if (ch === "\u007f" || ch === "\b") value = [...value].slice(0, -1).join("");
        else if (ch === "\u0015")
          value = ""; // Ctrl-U
        else if (ch >= " ") value += ch;
      }
    };
    input.setEncoding("utf8");
    // Echo off before the question shows: whatever is typed once it is visible stays hidden.
    input.setRawMode?.(true);
    prompt.write(question);
    input.on("data", onData);
    input.resume();
  });
}
