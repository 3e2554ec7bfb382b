/**
 * tenancykit/crypto/postgres: the durable TenantCipher key store and its
 * drizzle tables (add them to your schema and migrations).
 */
export { postgresKeyStore, migrateKeyStore } from "./postgres/key-store.js";
export { tenancyDataKeys, tenancyKeyTombstones } from "./postgres/schema.js";
export { CRYPTO_MIGRATION_SQL } from "./postgres/migration.js";
