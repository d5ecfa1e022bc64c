/**
 * Parley's JavaScript SDK: {@link HttpClient} for the HTTP API and {@link ParleyClient} for
 * the live WebSocket API, in browsers and in Node 20+.
 */

export { HttpClient } from "./http.js";
export type {
  Attachment,
  Challenge,
  AttachmentUpload,
  Conversation,
  ConversationPage,
  Device,
  DeviceRegistered,
  DeviceRegistration,
  ExportStatus,
  Group,
  GroupMember,
  HistoryPage,
  HttpClientOptions,
  IceServer,
  IceServers,
  MuteSetting,
  Profile,
  PushConfig,
  RequestOptions,
  Role,
  TokenPair,
} from "./http.js";
export { ParleyClient, HandshakeError, newClientMsgId } from "./client.js";
export type {
  EventFilter,
  EventListener,
  ParleyClientOptions,
  ReplyOf,
  SendOptions,
  SyncResult,
  TokenProvider,
  WebSocketConstructor,
  WebSocketLike,
} from "./client.js";
export * from "./errors.js";
export type * from "./types.js";
export type { Routes } from "./generated/openapi.js";
export type { Operations, Pushed, ClientFrame, ServerFrame } from "./generated/asyncapi.js";
export { limits } from "./generated/asyncapi.js";
export { MAX_FRAME_BYTES, encodeFrame } from "./core/frames.js";
export { fullJitter, ReconnectSchedule } from "./core/backoff.js";
export { Sequencer, type Cursors } from "./core/sequencer.js";
export { MessageStore, applyEvent, type HeldMessage } from "./core/rich.js";
export { ClientProtocol } from "./core/protocol.js";
export { jwtClaims } from "./core/tokens.js";
export {
  MAX_DIFFICULTY,
  MAX_SOLUTION_CHARS,
  leadingZeroBits,
  sha256,
  solveChallenge,
  solveChallengeInSteps,
  solveChallengeInWorker,
  solveChallengeSync,
  verifySolution,
  type ChallengeSolver,
} from "./core/pow.js";
