/**
 * The servers the integration project shares, started once by the global
 * setup and handed to test files through vitest's `inject("servers")`.
 */
export interface TestServers {
  /** Superuser URL of the `postgres` database; use `createTestDatabase` for a fresh one per file. */
  readonly postgresUrl: string;
  readonly redisUrl: string;
  readonly clusterNodes: readonly { host: string; port: number }[];
  /** PgBouncer (transaction pooling) in front of the same Postgres; `pgbouncerUrl(servers, database, user)` builds a URL. */
  readonly pgbouncerPort: number;
}

declare module "vitest" {
  export interface ProvidedContext {
    servers: TestServers;
  }
}

export function pgbouncerUrl(servers: TestServers, database: string, user = "postgres"): string {
  return `postgres://${user}@127.0.0.1:${servers.pgbouncerPort}/${database}`;
}

/** Roles the shared PgBouncer lets through; tests create them in Postgres as they need them. */
export const PGBOUNCER_USERS = ["postgres", "tenancy_app", "tenancy_owner"] as const;
