/**
 * aws-local-stepfunctions 3 uses `Promise.withResolvers` (Node 22). On Node 20 it is missing:
 * without it every Task fails and a throwing handler crashes the process. Imported before it.
 */
const P = Promise as unknown as { withResolvers?: unknown };
if (typeof P.withResolvers !== "function") {
  P.withResolvers = <T>() => {
    let resolve!: (value: T | PromiseLike<T>) => void;
    let reject!: (reason?: unknown) => void;
    const promise = new Promise<T>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}

export {};
