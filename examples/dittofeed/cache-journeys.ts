/**
 * Dittofeed's event-triggered-journeys cache rebuilt on TenantCache.
 *
 * Today `EVENT_TRIGGER_JOURNEY_CACHE = new NodeCache({ stdTTL: 30 })` in
 * backend-lib/src/journeys.ts is keyed by workspaceId and never invalidated
 * when a journey changes, so an edited or paused journey keeps triggering for
 * up to 30 s on every API node. Here the cache is partitioned by workspace
 * (one workspace's journeys can never be served to another), filled once per
 * key per process, and `upsertJourney` invalidates it on every node (through
 * the Redis tier's bus) right after the database write.
 */
import type { Result } from "neverthrow";
import { err, ok } from "neverthrow";
import type { CacheError } from "../../src/cache/index.js";

/** The part of a `pg` Pool (or PoolClient) these examples use. */
export interface Queryable {
  query<R extends object>(text: string, params?: unknown[]): Promise<{ rows: R[] }>;
}

export interface EventTriggeredJourney {
  readonly id: string;
  readonly name: string;
  readonly event: string;
}

/** Both TenantCache and RedisTenantCache fit this shape. */
export interface JourneyCache {
  getOrLoad(
    params: { workspaceId: string; key: string },
    loader: () => Promise<EventTriggeredJourney[]>,
  ): Promise<Result<EventTriggeredJourney[] | undefined, CacheError>>;
  delete(params: { workspaceId: string; key: string }): Promise<Result<unknown, CacheError>> | Result<unknown, CacheError>;
}

const KEY = "event-triggered-journeys";

/** `triggerEventEntryJourneysFactory`-style dependencies, as Dittofeed injects its NodeCache today. */
export function journeysWithCache({ db, cache }: { db: Queryable; cache: JourneyCache }) {
  const loadRunning = async (workspaceId: string): Promise<EventTriggeredJourney[]> => {
    const { rows } = await db.query<{ id: string; name: string; event: string }>(
      `select id, name, definition->'entryNode'->>'event' as event
         from "Journey"
        where "workspaceId" = $1
          and status = 'Running'
          and definition->'entryNode'->>'type' = 'EventEntryNode'
        order by name`,
      [workspaceId],
    );
    return rows;
  };

  /** The journeys a track event of `event` enters (the hot path of ingestion). */
  async function getEventTriggeredJourneys({
    workspaceId,
    event,
  }: {
    workspaceId: string;
    event: string;
  }): Promise<Result<EventTriggeredJourney[], CacheError>> {
    const all = await cache.getOrLoad({ workspaceId, key: KEY }, () => loadRunning(workspaceId));
    if (all.isErr()) return err(all.error);
    return ok((all.value ?? []).filter((j) => j.event === event));
  }

  /** Writes the journey, then invalidates the workspace's cached list (on every node with the Redis tier). */
  async function upsertJourney({
    workspaceId,
    name,
    status,
    event,
  }: {
    workspaceId: string;
    name: string;
    status: "NotStarted" | "Running" | "Paused";
    event: string;
  }): Promise<Result<{ id: string }, CacheError | { type: "QueryError"; message: string }>> {
    let id: string;
    try {
      const { rows } = await db.query<{ id: string }>(
        `insert into "Journey" ("workspaceId", name, status, definition) values ($1, $2, $3, $4)
         on conflict ("workspaceId", name)
         do update set status = excluded.status, definition = excluded.definition, "updatedAt" = now()
         returning id`,
        [workspaceId, name, status, JSON.stringify({ entryNode: { type: "EventEntryNode", event } })],
      );
      id = rows[0]?.id ?? "";
    } catch (thrown) {
      return err({ type: "QueryError", message: String(thrown) });
    }
    const invalidated = await cache.delete({ workspaceId, key: KEY });
    if (invalidated.isErr()) return err(invalidated.error);
    return ok({ id });
  }

  return { getEventTriggeredJourneys, upsertJourney };
}
