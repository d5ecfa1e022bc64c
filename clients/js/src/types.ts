/**
 * The wire shapes of the SDK's API. Version 1 shapes are the generated ones (from
 * `docs/schema`); the protocol 1.1 additions (sections 9-11) are declared here until the
 * schema documents carry them, and then become aliases of the generated types too.
 */

import type * as Ws from "./generated/asyncapi.js";
import type { JsonObject } from "./core/frames.js";
import type { MessageEvent, UpdateEvent } from "./core/protocol.js";

export type { Ws };
export type { MessageEvent, UpdateEvent, JsonObject };
export type {
  AckFrame as Ack,
  CustomBody,
  ErrorFrame as ErrorEvent,
  Message,
  OkFrame as OkReply,
  PresenceUser,
  ReceiptFrame as ReceiptEvent,
  SignalEventFrame as SignalEvent,
  SignalKind,
  SyncConversation,
  SystemBody,
  TypingEventFrame as TypingEvent,
  TypingState,
} from "./generated/asyncapi.js";

/** A text body; protocol 1.1 adds `replyTo` (a seq) and `mentions` (userIds). */
export type TextBody = Ws.TextBody & { replyTo?: number; mentions?: string[] };

/** Protocol 1.1 section 9.1: an uploaded attachment (see `HttpClient.uploadAttachment`). */
export interface FileBody {
  type: "file";
  attachmentId: string;
  caption?: string;
}

/** Protocol 1.1 section 9.1: replace the text of your own text message `target`. */
export interface EditBody {
  type: "edit";
  target: number;
  text: string;
}

/** Protocol 1.1 section 9.1: delete message `target`. */
export interface DeleteBody {
  type: "delete";
  target: number;
}

/** Protocol 1.1 section 9.1: add (`on: true`) or remove your reaction `key` to `target`. */
export interface ReactionBody {
  type: "reaction";
  target: number;
  key: string;
  on: boolean;
}

/** What `send` accepts. */
export type Body = TextBody | Ws.CustomBody | FileBody | EditBody | DeleteBody | ReactionBody;

/** Every event the client delivers: the server's pushes, and `update` (section 9.2). */
export type ServerEvent =
  | MessageEvent
  | UpdateEvent
  | Ws.ReceiptFrame
  | Ws.TypingEventFrame
  | Ws.SignalEventFrame
  | Ws.ErrorFrame;
