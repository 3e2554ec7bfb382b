import { Writable } from "node:stream";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { silentLogger, workspaceLogger, type TenancyLogger } from "../../../src/core/logger.js";
import { parseWorkspaceId } from "../../../src/core/workspace-id.js";

describe("logging", () => {
  it("accepts a real pino logger and binds workspaceId on every line through child()", () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    });
    const logger: TenancyLogger = pino({ level: "info" }, sink);
    const workspaceId = parseWorkspaceId("8f14e45f-ceea-4e7a-9d1b-1a2b3c4d5e01")._unsafeUnwrap();
    workspaceLogger(logger, workspaceId).info({ action: "quota.denied" }, "over the limit");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ workspaceId, action: "quota.denied", msg: "over the limit" });
  });

  it("has a silent default that accepts the same calls", () => {
    expect(() => silentLogger.child({ a: 1 }).error({ err: new Error("x") }, "m")).not.toThrow();
  });
});
