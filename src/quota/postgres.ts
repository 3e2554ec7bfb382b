/**
 * tenancykit/quota/postgres: the durable Postgres store for QuotaGuard (for
 * deployments without Redis), the Postgres policy source, and the drizzle
 * table definitions to add to your schema and migrations.
 */
export { PostgresQuotaStore, postgresQuotaStore, type PostgresQuotaStoreOptions } from "./stores/postgres.js";
export { PostgresPolicySource, type PostgresPolicySourceOptions } from "./stores/postgres-policy.js";
export { QUOTA_MIGRATION_SQL, tenancyQuotaPolicy, tenancyQuotaState } from "./stores/postgres-schema.js";
