/**
 * How Dittofeed's backend-lib would use tenancykit/postgres: a start-up role
 * check, a request-scoped transaction for code that cannot thread `tx`, and
 * a drizzle-typed scoped query. Shapes follow backend-lib (`db()`, `pool()`,
 * `logger()`, one destructured argument, neverthrow Results).
 */
import { err, ok, type Result } from "neverthrow";
import type { NodePgDatabase } from "drizzle-orm/node-postgres";
import type { Pool } from "pg";
import { assertAppRole, currentWorkspaceTx, FairPool, runInWorkspace, type PostgresTenancyError } from "../../src/postgres/index.js";
import { withWorkspace } from "../../src/postgres/drizzle.js";
import { segment } from "../../test/fixtures/dittofeed-schema.js";

/** api/worker boot: refuse to run as a role that skips row level security. */
export async function checkDatabaseRole({ pool, exit }: { pool: Pool; exit: (code: number) => never }): Promise<void> {
  const role = await assertAppRole(pool);
  if (role.isErr()) {
    console.error({ err: role.error }, "unsafe database role");
    exit(1);
  }
}

/** Deep backend-lib code: uses the request's transaction, never a bare pool. */
export async function findSegmentNames(): Promise<Result<string[], PostgresTenancyError>> {
  const tx = currentWorkspaceTx();
  if (tx.isErr()) return err(tx.error);
  const { rows } = await tx.value.query<{ name: string }>('select name from "Segment" order by name');
  return ok(rows.map((r) => r.name));
}

/** An api route handler wraps the whole request in one scoped transaction. */
export function handleListSegments({ pool, workspaceId }: { pool: Pool; workspaceId: string }) {
  return runInWorkspace(pool, workspaceId, () => findSegmentNames());
}

/** drizzle code with a typed `tx`, on a fairly shared pool. */
export async function getSegments({ db, workspaceId }: { db: NodePgDatabase; workspaceId: string }) {
  return withWorkspace(db, workspaceId, async (tx) => ok(await tx.select().from(segment)));
}

/** One pool of 10 shared fairly: no workspace holds more than 3 connections. */
export function fairPool(pool: Pool): FairPool {
  return new FairPool(pool, { size: 10, maxPerWorkspace: 3, acquireTimeoutMs: 2_000 });
}
