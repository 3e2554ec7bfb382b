import type { Result } from "neverthrow";
import type { StoreFailedError, StoreUnavailableError } from "../../core/errors.js";

export type KeyState = "active" | "retired" | "destroyed";

/** One data key version of one workspace, as stored. The plaintext key is never stored. */
export interface DataKeyRecord {
  readonly workspaceId: string;
  readonly version: number;
  /** null once destroyed. */
  readonly wrappedKey: Uint8Array | null;
  readonly rootKeyId: string;
  readonly state: KeyState;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** Who crypto-shredded a workspace and when; kept after the keys are gone. */
export interface KeyTombstone {
  readonly workspaceId: string;
  readonly destroyedAt: number;
  readonly destroyedBy: string;
  readonly versionsDestroyed: number;
}

export interface WorkspaceKeys {
  readonly keys: readonly DataKeyRecord[];
  readonly tombstone?: KeyTombstone;
}

export type KeyStoreError = StoreUnavailableError | StoreFailedError;

/** Outcome of adding a version: added, the version already existed (another process won), or the workspace is shredded. */
export type AddVersionOutcome = "added" | "exists" | "destroyed";

/**
 * Where wrapped data keys live. Adapters: `memoryKeyStore()` (embedded
 * default) and `postgresKeyStore()` from `tenancykit/crypto/postgres`. Every
 * write is atomic per workspace; the contract suite in `tenancykit/testing`
 * (`runKeyStoreContract`) checks each adapter.
 */
export interface KeyStore {
  /** All versions of a workspace (ascending) and its tombstone if it was shredded. */
  load(workspaceId: string): Promise<Result<WorkspaceKeys, KeyStoreError>>;
  /**
   * Adds `record` as the workspace's active version and marks every other
   * active version retired, atomically; refuses when the version exists or
   * the workspace has a tombstone.
   */
  addVersion(record: DataKeyRecord): Promise<Result<AddVersionOutcome, KeyStoreError>>;
  /**
   * Replaces a wrapped key (rewrap under a new root key) only if it is still
   * wrapped under `expectedRootKeyId` and not destroyed; returns whether it changed.
   */
  replaceWrapped(input: {
    readonly workspaceId: string;
    readonly version: number;
    readonly expectedRootKeyId: string;
    readonly rootKeyId: string;
    readonly wrappedKey: Uint8Array;
    readonly at: number;
  }): Promise<Result<boolean, KeyStoreError>>;
  /**
   * Crypto-shreds a workspace: wipes every wrapped key, marks the versions
   * destroyed and writes the tombstone, in one transaction. Idempotent: a
   * second call returns the first tombstone.
   */
  destroy(input: { readonly workspaceId: string; readonly by: string; readonly at: number }): Promise<Result<KeyTombstone, KeyStoreError>>;
  /** Pages through every record ordered by (workspaceId, version), after the given cursor. */
  list(input: {
    readonly after?: { readonly workspaceId: string; readonly version: number };
    readonly limit: number;
  }): Promise<Result<readonly DataKeyRecord[], KeyStoreError>>;
}
