/**
 * Postgres plumbing shared by the audit, crypto, quota and postgres modules:
 * one SQL interface over `pg`, drizzle and PGlite, and typed error mapping.
 */
export {
  isPgPool,
  toSqlClient,
  type DrizzleLike,
  type PGliteLike,
  type PgPoolClientLike,
  type PgPoolLike,
  type PostgresSource,
  type QueryResultRows,
  type SqlClient,
  type SqlExecutor,
} from "./sql-client.js";
export { sqlResult, toSqlError, type SqlError } from "./result.js";
