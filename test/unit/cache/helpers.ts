import { parseWorkspaceId, type WorkspaceId } from "../../../src/core/workspace-id.js";

export const wsId = (n: number): WorkspaceId =>
  parseWorkspaceId(`00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`)._unsafeUnwrap();

export const deferred = <T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } => {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
};
