/** Errors in words: what a person reads instead of a protocol code (protocol section 6). */

/** The fields of an SDK error this module reads (ParleyError and the client-side errors). */
interface ErrorLike {
  name?: unknown;
  code?: unknown;
  message?: unknown;
  retryAfterMs?: unknown;
}

/** What was being done when the error happened: some codes read differently per action. */
export type Doing =
  | "login"
  | "register"
  | "send"
  | "group"
  | "dm"
  | "call"
  | "load"
  | "edit"
  | "delete"
  | "react"
  | "upload"
  | "download"
  | "mute"
  | "notify"
  | "password"
  | "other";

/** "in 3 seconds", "in 2 minutes": a wait, rounded up, in words. */
export function waitInWords(ms: number): string {
  const seconds = Math.max(1, Math.ceil(ms / 1000));
  if (seconds < 90) return `in ${seconds} second${seconds === 1 ? "" : "s"}`;
  const minutes = Math.ceil(seconds / 60);
  return `in ${minutes} minute${minutes === 1 ? "" : "s"}`;
}

/** One sentence for an error thrown by the SDK (or by fetch), never a bare code. */
export function describeError(error: unknown, doing: Doing = "other"): string {
  const e = (typeof error === "object" && error !== null ? error : {}) as ErrorLike;
  const name = typeof e.name === "string" ? e.name : "";
  const code = typeof e.code === "number" ? e.code : undefined;
  const retry = typeof e.retryAfterMs === "number" ? e.retryAfterMs : undefined;
  // The server ended this login on the open socket (section 3): not a wrong password.
  if (name === "LoginRevokedError") {
    return "You were signed out: this sign-in was ended (signed out everywhere, the password changed, or it expired). Please sign in again.";
  }
  switch (code) {
    case 1001:
      if (doing === "edit") return "That message cannot be edited: only your own text messages can, and not once deleted.";
      if (doing === "delete") return "That message cannot be deleted (it may be deleted already).";
      if (doing === "react") return "That reaction cannot be changed: the message may be deleted, or it already has too many different reactions.";
      if (doing === "upload") return "That file cannot be sent: check its name and type.";
      if (doing === "register") return "Choose a user name of 3-32 letters, digits, dots, dashes or underscores, and a password of 8 to 128 characters.";
      if (doing === "dm") return "That is not a valid user name.";
      if (doing === "notify") return "The server does not accept this browser's push service, so notifications stay off.";
      if (doing === "password") return "Choose a new password of 8 to 128 characters.";
      return "The server did not accept that request; check what you typed.";
    case 1002:
      return doing === "call" ? "That person is not available to call." : "There is no user with that name.";
    case 1003:
      if (doing === "password") return "The current password is wrong.";
      return doing === "login" ? "Wrong user name or password." : "Your session has ended. Please sign in again.";
    case 1004:
      if (doing === "login") return "This account is suspended.";
      if (doing === "call") return "You cannot call this person.";
      if (doing === "edit") return "You can only edit your own messages.";
      if (doing === "delete") return "You can only delete your own messages; in a group, its owner and admins can delete any.";
      if (doing === "upload") return "You are not allowed to send files here.";
      if (doing === "download") return "You are not allowed to open this file.";
      if (doing === "mute") return "You can only mute conversations you are a member of.";
      return "You are not allowed to do that here (you are not a member, or you are blocked).";
    case 1005:
      return retry !== undefined ? `Too many attempts. Try again ${waitInWords(retry)}.` : "Too many attempts. Wait a moment and try again.";
    case 1006:
      if (doing === "group") return "That group would be too large.";
      if (doing === "upload") return "That file is too large to send.";
      return "That is too long: a message holds at most 4,000 characters.";
    case 1007:
      return "This app and the server do not understand each other; reload the page.";
    case 1008:
      return doing === "register" ? "That user name is taken." : "That already exists.";
    case 2001:
      return "The message could not be stored. It will be retried; try again if it does not appear.";
    case 2002:
      return "That conversation does not exist.";
    case 2003:
      if (doing === "download" || doing === "upload") return "That file is no longer available (its message may have been deleted).";
      return "That message no longer exists, or you cannot see it.";
    case 3001:
      return "The server had a problem. Try again in a moment.";
    default:
      break;
  }
  if (name === "ParleyTimeoutError") return "The server did not answer in time. Check your connection and try again.";
  if (name === "ParleyConnectionError" || name === "HandshakeError" || name === "TypeError") {
    return "Cannot reach the server. Check your connection.";
  }
  if (name === "ParleyUploadError") return "The file could not be uploaded. Try again.";
  // The SDK refuses a registration challenge too hard to solve (protocol 13).
  if (doing === "register" && name === "ParleyClientError") return "The server asks too much work to create an account now. Try again later.";
  if (name === "ParleyClosedError") return "You are signed out.";
  if (doing === "notify") {
    if (name === "NotAllowedError") return "The browser did not allow notifications for this site.";
    return "The browser could not subscribe to notifications (its push service may be unreachable).";
  }
  if (name === "NotAllowedError") return "The browser was not allowed to use the camera or microphone.";
  if (name === "NotFoundError" && code === undefined) return "No camera or microphone was found.";
  return "Something went wrong. Try again.";
}
