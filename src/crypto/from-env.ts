import { err, ok, type Result } from "neverthrow";
import { tenancyError } from "../core/errors.js";
import type { CryptoError } from "./errors.js";
import { parseRootKeys } from "./keys/root-keys.js";
import type { TenantCipherOptions } from "./options.js";
import { TenantCipher } from "./tenant-cipher.js";

/**
 * Builds a TenantCipher from TENANCY_ROOT_KEYS without throwing on a bad
 * value: the variable is environment input, so problems come back as an Err.
 */
export function tenantCipherFromEnv(
  rootKeys: string | undefined,
  options: Omit<TenantCipherOptions, "rootKeys"> = {},
): Result<TenantCipher, CryptoError> {
  if (options.keyWrapper === undefined) {
    if (rootKeys === undefined || rootKeys === "") return err(tenancyError("InvalidRootKeys", "TENANCY_ROOT_KEYS is not set"));
    const parsed = parseRootKeys(rootKeys);
    if (parsed.isErr()) return err(parsed.error);
    return ok(new TenantCipher({ ...options, rootKeys: parsed.value }));
  }
  return ok(new TenantCipher(options));
}
