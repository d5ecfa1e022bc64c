/**
 * The protocol's error codes by name, from the schema document (`x-enum-varnames` of its
 * `ErrorCode`), plus the codes protocol 1.1 adds before the document carries them.
 */

import { ErrorCode as SchemaErrorCode } from "./generated/asyncapi.js";

/** `ErrorCode.RATE_LIMITED === 1005`. */
export const ErrorCode = {
  ...SchemaErrorCode,
  /** Protocol 1.1 section 9.3: no such message or attachment, or not visible to the caller. */
  NOT_FOUND: 2003,
} as const;

export type ErrorCodeName = keyof typeof ErrorCode;
export type ErrorCodeValue = (typeof ErrorCode)[ErrorCodeName];

/** `ERROR_CODES[1005] === "RATE_LIMITED"`. */
export const ERROR_CODES = Object.fromEntries(
  Object.entries(ErrorCode).map(([name, value]) => [value, name]),
) as Readonly<Record<ErrorCodeValue, ErrorCodeName>>;
