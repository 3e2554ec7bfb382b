import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { AuditLogger } from "../../../src/audit/logger.js";
import { MemoryAuditStore } from "../../../src/audit/memory-store.js";
import type { AuditEntry } from "../../../src/audit/entry.js";

const actor = { type: "member", id: "m1" };

function logger(store = new MemoryAuditStore()): AuditLogger {
  return new AuditLogger({ store, batch: { lingerMs: 0 } });
}

/** Every entry a query yields, following cursors to the end (bounded, so a cursor that never ends fails instead of hanging). */
async function all(audit: AuditLogger, query: Parameters<AuditLogger["query"]>[0]): Promise<AuditEntry[]> {
  const out: AuditEntry[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 200; page++) {
    const result = (await audit.query({ ...query, ...(cursor !== undefined ? { cursor } : {}) }))._unsafeUnwrap();
    out.push(...result.entries);
    if (result.nextCursor === undefined) return out;
    cursor = result.nextCursor;
  }
  throw new Error("the cursor never ended");
}

describe("query order: exactly asc or desc", () => {
  it("refuses any other order (hostile SQL text, or \"ASC\", which paged the memory store forever) with InvalidInput", async () => {
    const store = new MemoryAuditStore();
    const audit = logger(store);
    const workspaceId = randomUUID();
    for (let i = 0; i < 3; i++) (await audit.append({ workspaceId, actor, action: "journey.updated" }))._unsafeUnwrap();
    for (const order of ["ASC", "Desc", "desc; drop table audit_entry", "asc, seq", "", null, 1]) {
      const result = await audit.query({ workspaceId, limit: 1, order: order as never });
      expect(result._unsafeUnwrapErr().type, String(order)).toBe("InvalidInput");
      // The store itself refuses too, for callers that reach it directly.
      const direct = await store.query({ workspaceId, order: order as never, limit: 1, afterSeq: 3 });
      expect(direct._unsafeUnwrapErr().type, String(order)).toBe("InvalidInput");
    }
    expect((await all(audit, { workspaceId, limit: 1, order: "asc" })).map((e) => e.seq)).toEqual([1, 2, 3]);
    expect((await all(audit, { workspaceId, limit: 1, order: "desc" })).map((e) => e.seq)).toEqual([3, 2, 1]);
    await audit.close();
  });
});

describe("query target: both fields, matched exactly", () => {
  it("a target filter without a type or an id, or that is no object, is InvalidInput (it searched \"undefined:…\")", async () => {
    const audit = logger();
    const workspaceId = randomUUID();
    (await audit.append({ workspaceId, actor, action: "journey.updated", targets: [{ type: "journey", id: "undefined" }] }))._unsafeUnwrap();
    for (const target of [{ id: "undefined" }, { type: "journey" }, {}, "journey:j", null, { type: "journey", id: 5 }]) {
      const result = await audit.query({ workspaceId, target: target as never });
      expect(result._unsafeUnwrapErr().type, JSON.stringify(target)).toBe("InvalidInput");
    }
    expect((await audit.query({ workspaceId, actor: "m1" as never }))._unsafeUnwrapErr().type).toBe("InvalidInput");
    await audit.close();
  });

  it("{ journey, x:y } and { journey:x, y } share a column value but each query finds only its own entries", async () => {
    const audit = logger();
    const workspaceId = randomUUID();
    const a = (await audit.append({ workspaceId, actor, action: "journey.updated", targets: [{ type: "journey", id: "x:y" }] }))._unsafeUnwrap();
    const b = (await audit.append({ workspaceId, actor, action: "journey.updated", targets: [{ type: "journey:x", id: "y" }] }))._unsafeUnwrap();
    const seqs = async (target: { type: string; id: string }) => (await all(audit, { workspaceId, target })).map((e) => e.seq);
    expect(await seqs({ type: "journey", id: "x:y" })).toEqual([a.seq]);
    expect(await seqs({ type: "journey:x", id: "y" })).toEqual([b.seq]);
    expect(await seqs({ type: "journey:x:y", id: "" })).toEqual([]);
    await audit.close();
  });

  it("pages through many colliding entries: every exact match once, in order, whatever the limit", async () => {
    const audit = logger();
    const workspaceId = randomUUID();
    const wanted: number[] = [];
    for (let i = 0; i < 60; i++) {
      // One real match in every seven; the others collide on the column value only.
      const target = i % 7 === 3 ? { type: "journey", id: "x:y" } : { type: "journey:x", id: "y" };
      const receipt = (await audit.append({ workspaceId, actor, action: "journey.updated", targets: [target] }))._unsafeUnwrap();
      if (i % 7 === 3) wanted.push(receipt.seq);
    }
    for (const limit of [1, 2, 5, 100]) {
      for (const order of ["asc", "desc"] as const) {
        const found = (await all(audit, { workspaceId, target: { type: "journey", id: "x:y" }, limit, order })).map((e) => e.seq);
        expect(found, `limit ${limit} ${order}`).toEqual(order === "asc" ? wanted : [...wanted].reverse());
      }
    }
    await audit.close();
  });
});
