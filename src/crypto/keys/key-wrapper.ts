import { err, ok, type Result } from "neverthrow";
import { xchacha20poly1305 } from "@noble/ciphers/chacha";
import { randomBytes } from "node:crypto";
import { keyUnavailable, type KeyUnavailableError } from "../errors.js";
import type { RootKey } from "./root-keys.js";

/** What a wrapped data key is bound to: a wrapped key copied to another workspace or version does not unwrap. */
export interface WrapContext {
  readonly workspaceId: string;
  readonly version: number;
}

export interface WrappedKey {
  /** The root key (or KMS key) that wrapped it; stored beside the wrapped bytes. */
  readonly rootKeyId: string;
  readonly wrapped: Uint8Array;
}

/**
 * The root-key plug-in. The local implementation (`localKeyWrapper`) holds
 * the keys from TENANCY_ROOT_KEYS; a KMS adapter implements the same two
 * calls with `Encrypt`/`Decrypt` (AWS KMS: EncryptionContext = the context;
 * GCP/Vault: additional authenticated data). Unwrap calls are rare: the
 * data-key cache calls `unwrap` once per workspace and key version per max age.
 */
export interface KeyWrapper {
  /** The root key id new data keys are wrapped under (the primary). */
  readonly primaryRootKeyId: string;
  wrap(input: { readonly key: Uint8Array; readonly context: WrapContext }): Promise<Result<WrappedKey, KeyUnavailableError>>;
  unwrap(input: {
    readonly rootKeyId: string;
    readonly wrapped: Uint8Array;
    readonly context: WrapContext;
  }): Promise<Result<Uint8Array, KeyUnavailableError>>;
}

const NONCE = 24;
const LABEL = new TextEncoder().encode("tenancykit/data-key/v1");

/**
 * AAD for a wrapped data key: label ‖ len ‖ rootKeyId ‖ len ‖ workspaceId ‖ u32 version.
 * Binding the root key id too means a wrapped key cannot be relabelled as
 * belonging to another root key.
 */
export function wrapAad(rootKeyId: string, context: WrapContext): Uint8Array {
  const root = new TextEncoder().encode(rootKeyId);
  const workspace = new TextEncoder().encode(context.workspaceId);
  const out = new Uint8Array(LABEL.length + 1 + root.length + 1 + workspace.length + 4);
  let at = 0;
  out.set(LABEL, at);
  at += LABEL.length;
  out[at++] = root.length;
  out.set(root, at);
  at += root.length;
  out[at++] = workspace.length;
  out.set(workspace, at);
  at += workspace.length;
  new DataView(out.buffer).setUint32(at, context.version >>> 0, false);
  return out;
}

/**
 * Wraps data keys with XChaCha20-Poly1305 under local root keys: wrapped =
 * nonce(24) ‖ ciphertext(32) ‖ tag(16). New keys go under the first (primary)
 * root key; unwrap uses the key the record names, so old root keys keep
 * working until `rewrapAll` has moved every data key off them.
 */
export function localKeyWrapper(rootKeys: readonly RootKey[]): KeyWrapper {
  const primary = rootKeys[0];
  if (primary === undefined) throw new TypeError("localKeyWrapper needs at least one root key");
  const byId = new Map(rootKeys.map((k) => [k.id, k.key]));
  return {
    primaryRootKeyId: primary.id,
    async wrap({ key, context }) {
      const nonce = new Uint8Array(randomBytes(NONCE));
      const sealed = xchacha20poly1305(primary.key, nonce, wrapAad(primary.id, context)).encrypt(key);
      const wrapped = new Uint8Array(NONCE + sealed.length);
      wrapped.set(nonce);
      wrapped.set(sealed, NONCE);
      return ok({ rootKeyId: primary.id, wrapped });
    },
    async unwrap({ rootKeyId, wrapped, context }) {
      const root = byId.get(rootKeyId);
      if (root === undefined) {
        return err(keyUnavailable(`root key ${JSON.stringify(rootKeyId)} is not configured`, { workspaceId: context.workspaceId }));
      }
      if (wrapped.length !== NONCE + 32 + 16) {
        return err(keyUnavailable(`wrapped data key has ${wrapped.length} bytes`, { workspaceId: context.workspaceId }));
      }
      try {
        const cipher = xchacha20poly1305(root, wrapped.subarray(0, NONCE), wrapAad(rootKeyId, context));
        return ok(cipher.decrypt(wrapped.subarray(NONCE)));
      } catch {
        return err(
          keyUnavailable(`wrapped data key v${context.version} does not unwrap under root key ${rootKeyId} for this workspace`, {
            workspaceId: context.workspaceId,
          }),
        );
      }
    },
  };
}
