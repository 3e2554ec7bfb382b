import { randomUUID } from "node:crypto";
import { validate } from "uuid";
import { parseWorkspaceId } from "../src/core/workspace-id.js";
import { blackhole, type BenchContext } from "./harness.js";

/**
 * core.parseWorkspaceId vs uuid.validate (what Dittofeed calls today). Ours
 * also normalises case, brands the type and wraps the answer in a Result.
 * The ids are fresh v4 UUIDs, as Dittofeed's are. Each side has its own loop
 * function: a loop shared through a callback turns its call site polymorphic
 * and penalises whichever side V8 optimised second.
 */
export default async function coreBench(ctx: BenchContext): Promise<void> {
  const ids = Array.from({ length: 1_000 }, () => randomUUID());
  const iterations = ctx.size(3_000_000, 500_000);

  const oursLoop = (): number => {
    let accepted = 0;
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) {
      if (parseWorkspaceId(ids[i % 1_000]).isOk()) accepted++;
    }
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    blackhole(accepted);
    return iterations / seconds;
  };
  const peerLoop = (): number => {
    let accepted = 0;
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) {
      if (validate(ids[i % 1_000] ?? "")) accepted++;
    }
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    blackhole(accepted);
    return iterations / seconds;
  };

  await ctx.compare({
    id: "core.parseWorkspaceId",
    note: "1,000 recurring workspace ids (a backend's active set), as string values already in memory",
    unit: "ops/s",
    higherIsBetter: true,
    goal: 1.0,
    ours: oursLoop,
    peer: { name: "uuid.validate", measure: peerLoop },
  });

  // The same with each id arriving as a fresh string (as from JSON.parse of a
  // request body), so neither side benefits from a string it has seen.
  const bodies = ids.map((id) => JSON.stringify({ workspaceId: id }));
  const freshIterations = ctx.size(1_000_000, 200_000);
  const fresh = (check: (id: string) => boolean) => (): number => {
    let accepted = 0;
    const start = process.hrtime.bigint();
    for (let i = 0; i < freshIterations; i++) {
      const { workspaceId } = JSON.parse(bodies[i % 1_000] ?? "{}") as { workspaceId: string };
      if (check(workspaceId)) accepted++;
    }
    blackhole(accepted);
    return freshIterations / (Number(process.hrtime.bigint() - start) / 1e9);
  };
  await ctx.compare({
    id: "core.parseWorkspaceId.fromJson",
    note: "informational: each id parsed from a fresh JSON body first (both sides pay the JSON.parse)",
    unit: "ops/s",
    higherIsBetter: true,
    goal: 1.0,
    ours: fresh((id) => parseWorkspaceId(id).isOk()),
    peer: { name: "uuid.validate", measure: fresh((id) => validate(id)) },
  });
}
