import { err, ok, type Result } from "neverthrow";
import { describeThrown } from "../../core/errors.js";
import { serializationFailed, type SerializationFailedError } from "../errors.js";

/** How values are stored in Redis. JSON by default; pass your own for Dates, BigInts, Buffers. */
export interface CacheCodec<V> {
  encode(value: V): string;
  decode(text: string): V;
}

export const jsonCodec: CacheCodec<never> = {
  encode: (value) => JSON.stringify(value),
  decode: (text) => JSON.parse(text) as never,
};

/** Stored form: "v" + encoded value, or "n" for a cached "not found". */
export function encodeStored<V>(codec: CacheCodec<V>, value: V | undefined, workspaceId: string): Result<string, SerializationFailedError> {
  if (value === undefined) return ok("n");
  try {
    const text = codec.encode(value);
    if (typeof text !== "string") return err(serializationFailed("codec.encode did not return a string", workspaceId));
    return ok(`v${text}`);
  } catch (thrown) {
    return err(serializationFailed(`could not encode value: ${describeThrown(thrown)}`, workspaceId, thrown));
  }
}

export function decodeStored<V>(codec: CacheCodec<V>, stored: string, workspaceId: string): Result<V | undefined, SerializationFailedError> {
  if (stored === "n") return ok(undefined);
  if (!stored.startsWith("v")) return err(serializationFailed("corrupt cache entry in redis (unknown tag)", workspaceId));
  try {
    return ok(codec.decode(stored.slice(1)));
  } catch (thrown) {
    return err(serializationFailed(`corrupt cache entry in redis: ${describeThrown(thrown)}`, workspaceId, thrown));
  }
}
