import fc from "fast-check";
import type { Result } from "neverthrow";
import { describe, expect, it } from "vitest";
import { AuditLogger } from "../../../src/audit/index.js";
import { TenantCache } from "../../../src/cache/index.js";
import { ManualClock, parseWorkspaceId, seededRandom } from "../../../src/core/index.js";
import { memoryKeyStore, TenantCipher } from "../../../src/crypto/index.js";
import { TenantMetrics } from "../../../src/metrics/index.js";
import { MemoryQuotaStore, QuotaGuard } from "../../../src/quota/index.js";
import { badId, expectErrIff, expectTypedErr, idLike, isValidId, noThrow, PLAN, ROOT_KEYS, show, str, W } from "./hostile-values.js";

describe("workspace ids", () => {
  it("parseWorkspaceId: Ok exactly for a UUID string (any case, normalised to lower case), else a typed Err", () => {
    fc.assert(
      fc.property(idLike, (input) => {
        let result: ReturnType<typeof parseWorkspaceId>;
        try {
          result = parseWorkspaceId(input);
        } catch (thrown) {
          throw new Error(`parseWorkspaceId threw: ${show(thrown)}`);
        }
        expectErrIff(result, !isValidId(input), "parseWorkspaceId");
        if (result.isOk()) expect(result.value).toBe((input as string).toLowerCase());
        else expect(result.error.type).toBe("InvalidWorkspaceId");
      }),
      { numRuns: 400 },
    );
  });

  it("every module answers a malformed id with InvalidWorkspaceId and changes nothing", async () => {
    const clock = new ManualClock();
    const guard = new QuotaGuard({ clock, policies: { plans: { free: PLAN }, defaultPlan: "free" } });
    const cache = new TenantCache<unknown>({ maxBytes: 1 << 16, clock });
    const cipher = new TenantCipher({ rootKeys: ROOT_KEYS, store: memoryKeyStore(), clock });
    const audit = new AuditLogger({ clock, random: seededRandom(1), batch: { lingerMs: 0 } });
    const metrics = new TenantMetrics({ clock });
    metrics.counter("sent");
    const state = () => JSON.stringify([(guard.store as MemoryQuotaStore).size, cache.stats(), metrics.stats(), metrics.snapshot()]);

    await fc.assert(
      fc.asyncProperty(badId, async (workspaceId) => {
        const before = state();
        const id = workspaceId as string;
        const calls: [string, () => unknown][] = [
          ["quota.consume", () => guard.consume({ workspaceId: id, limit: "calls" })],
          ["quota.check", () => guard.check({ workspaceId: id, limit: "calls", cost: 2 })],
          ["quota.reserve", () => guard.reserve({ workspaceId: id, limit: "items" })],
          ["quota.reconcile", () => guard.reconcile({ workspaceId: id, limit: "items", actual: 1 })],
          ["quota.commit", () => guard.commit({ reservation: { id: "r", workspaceId: id as never, items: [{ limit: "items", cost: 1 }] } })],
          ["quota.workspace", () => guard.workspace(id)],
          ["cache.workspace", () => cache.workspace(id)],
          ["cache.get", () => cache.get({ workspaceId: id, key: "k" })],
          ["cache.set", () => cache.set({ workspaceId: id, key: "k", value: 1 })],
          ["cache.delete", () => cache.delete({ workspaceId: id, key: "k" })],
          ["cache.getOrLoad", () => cache.getOrLoad({ workspaceId: id, key: "k" }, () => 1)],
          ["cache.clear", () => cache.clear({ workspaceId: id })],
          ["cipher.encrypt", () => cipher.encrypt({ workspaceId: id, purpose: "secret:x", plaintext: "v" })],
          ["cipher.decrypt", () => cipher.decrypt({ workspaceId: id, purpose: "secret:x", ciphertext: new Uint8Array(64) })],
          ["cipher.encryptText", () => cipher.encryptText({ workspaceId: id, purpose: "secret:x", plaintext: "v" })],
          ["cipher.blindIndex", () => cipher.blindIndex({ workspaceId: id, purpose: "email", value: "v" })],
          ["cipher.rotate", () => cipher.rotate({ workspaceId: id })],
          ["cipher.destroy", () => cipher.destroy({ workspaceId: id, by: "test" })],
          ["audit.append", () => audit.append({ workspaceId: id, actor: { type: "member", id: "m" }, action: "journey.updated" })],
          ["audit.verify", () => audit.verify({ workspaceId: id })],
          ["audit.query", () => audit.query({ workspaceId: id })],
          ["metrics.add", () => metrics.add({ workspaceId: id, metric: "sent", value: 1 })],
          ["metrics.workspace", () => metrics.workspace(id)],
          ["metrics.usage", () => metrics.usage({ workspaceId: id })],
        ];
        for (const [what, call] of calls) {
          const result = (await noThrow(what, call)) as Result<unknown, unknown>;
          expectTypedErr(result, what, ["InvalidWorkspaceId"]);
        }
        expect(state(), "no module changed state").toBe(before);
      }),
      { numRuns: 60 },
    );
    await guard.close();
    await audit.close();
  });
});

describe("calls that take one object", () => {
  it("answer any other argument with a typed Err, never a TypeError from a property read", async () => {
    const clock = new ManualClock();
    const guard = new QuotaGuard({ clock, policies: { plans: { free: PLAN }, defaultPlan: "free" } });
    const quota = guard.workspace(W)._unsafeUnwrap();
    const cache = new TenantCache<unknown>({ maxBytes: 1 << 16, clock });
    const cipher = new TenantCipher({ rootKeys: ROOT_KEYS, store: memoryKeyStore(), clock });
    const audit = new AuditLogger({ clock, random: seededRandom(1), batch: { lingerMs: 0 } });
    const metrics = new TenantMetrics({ clock });
    metrics.counter("sent");
    const notAnObject = fc.oneof(fc.constantFrom(null, undefined, 0, NaN, "", "text", true, 1n), fc.string({ maxLength: 4 }).map((s) => Symbol(s)));
    await fc.assert(
      fc.asyncProperty(notAnObject, async (arg) => {
        const a = arg as never;
        const calls: [string, () => unknown][] = [
          ["quota.consume", () => guard.consume(a)],
          ["quota.check", () => guard.check(a)],
          ["quota.reserve", () => guard.reserve(a)],
          ["quota.acquire", () => guard.acquire(a)],
          ["quota.commit", () => guard.commit(a)],
          ["quota.release", () => guard.release(a)],
          ["quota.reconcile", () => guard.reconcile(a)],
          ["quota handle.consume", () => quota.consume(a)],
          ["quota handle.check", () => quota.check(a)],
          ["quota handle.reserve", () => quota.reserve(a)],
          ["cache.get", () => cache.get(a)],
          ["cache.set", () => cache.set(a)],
          ["cache.delete", () => cache.delete(a)],
          ["cache.getOrLoad", () => cache.getOrLoad(a, () => 1)],
          ["cache.clear", () => cache.clear(a)],
          ["cipher.field", () => cipher.field(a)],
          ["cipher.encrypt", () => cipher.encrypt(a)],
          ["cipher.decrypt", () => cipher.decrypt(a)],
          ["cipher.encryptText", () => cipher.encryptText(a)],
          ["cipher.decryptText", () => cipher.decryptText(a)],
          ["cipher.blindIndex", () => cipher.blindIndex(a)],
          ["cipher.rotate", () => cipher.rotate(a)],
          ["cipher.destroy", () => cipher.destroy(a)],
          ["audit.append", () => audit.append(a)],
          ["audit.verify", () => audit.verify(a)],
          ["audit.query", () => audit.query(a)],
          ["audit.checkpoint", () => audit.checkpoint(a)],
          ["audit.checkpoints", () => audit.checkpoints(a)],
          ["audit.exportLog", () => audit.exportLog(a)],
          ["audit.erase", () => audit.erase(a)],
          ["audit.prune", () => audit.prune(a)],
          ["metrics.add", () => metrics.add(a)],
          ["metrics.set", () => metrics.set(a)],
          ["metrics.observe", () => metrics.observe(a)],
          ["metrics.usage", () => metrics.usage(a)],
        ];
        for (const [what, call] of calls) {
          const label = `${what}(${str(arg)})`;
          expectTypedErr((await noThrow(label, call)) as Result<unknown, unknown>, label);
        }
      }),
      { numRuns: 40 },
    );
    await guard.close();
    await audit.close();
  });
});
