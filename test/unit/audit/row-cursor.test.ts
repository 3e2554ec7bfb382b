import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { MemoryAuditStore } from "../../../src/audit/memory-store.js";
import { RowCursor } from "../../../src/audit/row-cursor.js";
import { DEFAULT_LIMITS, prepareEvent } from "../../../src/audit/validate.js";
import { systemClock } from "../../../src/core/clock.js";
import { seededRandom } from "../../../src/core/random.js";

async function chain(length: number) {
  const store = new MemoryAuditStore();
  const workspaceId = randomUUID();
  const random = seededRandom(5);
  const events = Array.from({ length }, (_, i) =>
    prepareEvent({ workspaceId, actor: { type: "system", id: "s" }, action: "job.ran", metadata: { i } }, DEFAULT_LIMITS, systemClock, random)._unsafeUnwrap(),
  );
  (await store.appendBatch(events, Date.now()))._unsafeUnwrap();
  return { store, workspaceId };
}

describe("RowCursor (pages read one ahead)", () => {
  it("yields every row of a range once, in order, across page boundaries", async () => {
    const { store, workspaceId } = await chain(10);
    for (const [from, to, page] of [[1, 10, 3], [1, 10, 5], [4, 9, 2], [1, 10, 10], [1, 10, 20]] as const) {
      const cursor = new RowCursor(store, workspaceId, from, to, page);
      const seqs: number[] = [];
      for (let row = (await cursor.next())._unsafeUnwrap(); row !== undefined; row = (await cursor.next())._unsafeUnwrap()) seqs.push(row.seq);
      expect(seqs).toEqual(Array.from({ length: to - from + 1 }, (_, i) => from + i));
    }
  });

  it("rest() returns what follows the current row, with the page read ahead included", async () => {
    const { store, workspaceId } = await chain(10);
    const cursor = new RowCursor(store, workspaceId, 1, 10, 3);
    for (let i = 0; i < 4; i++) await cursor.next();
    expect((await cursor.rest())._unsafeUnwrap().map((r) => r.seq)).toEqual([5, 6, 7, 8, 9, 10]);
  });
});
