/** Encoding client frames and decoding server frames (no I/O). */

import { PayloadTooLargeError, isObject } from "../errors.js";
import { limits } from "../generated/asyncapi.js";

/** API Gateway's WebSocket frame limit (32 KB): a bigger frame gets the socket closed (1009). */
export const MAX_FRAME_BYTES: number = limits.frameBytes.value;

/** Server frame types that answer a request (matched by `id`). */
export const REPLY_TYPES: ReadonlySet<string> = new Set([
  "ack",
  "sync",
  "presence",
  "ok",
  "pong",
  "error",
]);

const encoder = new TextEncoder();

/** A JSON object as received or sent. */
export type JsonObject = Record<string, unknown>;

/**
 * The compact JSON text of `frame`.
 *
 * @throws PayloadTooLargeError (code 1006, `local: true`) when it is over 32 KB as UTF-8,
 *   instead of letting API Gateway close the socket.
 */
export function encodeFrame(frame: JsonObject): string {
  const text = JSON.stringify(frame);
  const size = encoder.encode(text).length;
  if (size > MAX_FRAME_BYTES) {
    throw new PayloadTooLargeError(
      1006,
      `frame is ${size} bytes; the WebSocket frame limit is ${MAX_FRAME_BYTES}`,
      { local: true },
    );
  }
  return text;
}

/** A received frame as a JSON object with a string `type`, or undefined for anything else. */
export function decodeFrame(raw: string): (JsonObject & { type: string }) | undefined {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (!isObject(value) || typeof value.type !== "string") return undefined;
  return value as JsonObject & { type: string };
}
