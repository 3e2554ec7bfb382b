import { ok } from "neverthrow";
import type { DataKeyRecord, KeyStore, KeyTombstone } from "./key-store.js";

/**
 * The embedded key store: a Map per process. Fine for tests, the demo and
 * single-process deployments that keep their own backup of nothing (a
 * restart loses every data key, so everything encrypted becomes unreadable):
 * use the Postgres store for anything durable.
 */
export function memoryKeyStore(): KeyStore {
  const keys = new Map<string, DataKeyRecord[]>();
  const tombstones = new Map<string, KeyTombstone>();
  const copy = (r: DataKeyRecord): DataKeyRecord => ({ ...r, wrappedKey: r.wrappedKey && new Uint8Array(r.wrappedKey) });
  return {
    async load(workspaceId) {
      const tombstone = tombstones.get(workspaceId);
      const list = (keys.get(workspaceId) ?? []).map(copy);
      return ok(tombstone === undefined ? { keys: list } : { keys: list, tombstone });
    },
    async addVersion(record) {
      if (tombstones.has(record.workspaceId)) return ok("destroyed");
      const list = keys.get(record.workspaceId) ?? [];
      if (list.some((r) => r.version === record.version)) return ok("exists");
      const updated = list.map((r) => (r.state === "active" ? { ...r, state: "retired" as const, updatedAt: record.createdAt } : r));
      updated.push(copy(record));
      updated.sort((a, b) => a.version - b.version);
      keys.set(record.workspaceId, updated);
      return ok("added");
    },
    async replaceWrapped({ workspaceId, version, expectedRootKeyId, rootKeyId, wrappedKey, at }) {
      const list = keys.get(workspaceId) ?? [];
      const index = list.findIndex((r) => r.version === version);
      const current = list[index];
      if (current === undefined || current.state === "destroyed" || current.rootKeyId !== expectedRootKeyId) return ok(false);
      list[index] = { ...current, rootKeyId, wrappedKey: new Uint8Array(wrappedKey), updatedAt: at };
      return ok(true);
    },
    async destroy({ workspaceId, by, at }) {
      const existing = tombstones.get(workspaceId);
      if (existing !== undefined) return ok(existing);
      const list = keys.get(workspaceId) ?? [];
      keys.set(
        workspaceId,
        list.map((r) => {
          r.wrappedKey?.fill(0);
          return { ...r, wrappedKey: null, state: "destroyed" as const, updatedAt: at };
        }),
      );
      const tombstone: KeyTombstone = { workspaceId, destroyedAt: at, destroyedBy: by, versionsDestroyed: list.length };
      tombstones.set(workspaceId, tombstone);
      return ok(tombstone);
    },
    async list({ after, limit }) {
      const all: DataKeyRecord[] = [];
      for (const workspaceId of [...keys.keys()].sort()) {
        for (const r of keys.get(workspaceId) ?? []) {
          if (after !== undefined && (workspaceId < after.workspaceId || (workspaceId === after.workspaceId && r.version <= after.version))) continue;
          all.push(copy(r));
          if (all.length >= limit) return ok(all);
        }
      }
      return ok(all);
    },
  };
}
