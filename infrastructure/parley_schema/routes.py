"""The HTTP routes (protocol sections 3 and 4): what each takes, answers and refuses.

:data:`ROUTES` is the route table of `template.yaml`; `tests/unit/test_schema_routes.py`
holds it equal to the template's `HttpApi` events and to the `ROUTES` of
`functions/*/app.py` (public routes included). :func:`route_codes` adds to a route's own
error codes those every route shares: 401 for a route that needs a token, 400 and 413 for
one with a JSON body, 400 for one with a query, 503 where a dependency may fail, and 500.
"""

from __future__ import annotations

from dataclasses import dataclass

from parley.errors import Code
from pydantic import BaseModel

from parley_schema import requests
from parley_schema.models import (
    AttachmentLink,
    AttachmentUpload,
    Challenge,
    ConversationList,
    DeviceList,
    DeviceRegistered,
    ExportCreated,
    ExportStatus,
    FlagList,
    Group,
    Health,
    HistoryPage,
    IceServers,
    MuteSetting,
    Profile,
    PushConfig,
    Registered,
    RoleChange,
    TokenPair,
)

MAX_SEQ = 2**53


@dataclass(frozen=True)
class Query:
    """An integer query parameter within [low, high] (1001 otherwise); with `string`, a
    string of `low` to `high` characters."""

    name: str
    low: int
    high: int
    default: int | None
    description: str
    string: bool = False


@dataclass(frozen=True)
class Route:
    """One route: what it takes, what it answers on success, and its own error codes."""

    method: str
    path: str
    operation_id: str
    tag: str
    summary: str
    status: int
    reply: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    errors: tuple[Code, ...] = ()
    public: bool = False
    query: tuple[Query, ...] = ()
    description: str = ""
    also: tuple[int, ...] = ()
    """Other success statuses, with the same reply (POST /devices: 200 for a known one)."""
    body_optional: bool = False
    """The body may be absent (`POST /admin/users/{userId}/suspend`: no reason)."""

    @property
    def key(self) -> str:
        """The API Gateway route key, `METHOD /path/{param}`."""
        return f"{self.method} {self.path}"


_GROUP = (Code.FORBIDDEN, Code.USER_NOT_FOUND, Code.CONVERSATION_NOT_FOUND)

ROUTES: tuple[Route, ...] = (
    Route("GET", "/health", "health", "health", "The stack can serve", 200, Health, public=True),
    Route(
        "GET",
        "/auth/challenge",
        "challenge",
        "auth",
        "A registration challenge",
        200,
        Challenge,
        errors=(Code.USER_NOT_FOUND,),
        public=True,
        description="Signed by the server, nothing stored. When the server asks no challenge "
        "(`RegistrationChallenge` off) it answers 404 1002: register without one.",
    ),
    Route(
        "POST",
        "/auth/register",
        "register",
        "auth",
        "Create an account",
        201,
        Registered,
        requests.RegisterBody,
        (Code.INVALID_PARAM, Code.CONFLICT, Code.RATE_LIMITED),
        public=True,
        description="A taken userId answers 409 1008. When the server asks a challenge, a "
        "missing, wrong, expired or reused one answers 400 1001. Past the registrations "
        "allowed per source address, 429 1005 with `retryAfterMs`.",
    ),
    Route(
        "POST",
        "/auth/login",
        "login",
        "auth",
        "Log in with a password",
        200,
        TokenPair,
        requests.LoginBody,
        (Code.UNAUTHENTICATED, Code.RATE_LIMITED),
        public=True,
        description="Unknown user and wrong password give the same 401 1003. Past the failed "
        "logins allowed per account or per source address (counted before the password is "
        "checked), 429 1005 with `retryAfterMs` and `Retry-After`, even for a correct "
        "password, until the window passes.",
    ),
    Route(
        "POST",
        "/auth/refresh",
        "refresh",
        "auth",
        "Rotate the refresh token",
        200,
        TokenPair,
        requests.RefreshBody,
        (Code.UNAUTHENTICATED,),
        public=True,
        description="The used refresh token is spent. Presented again within the grace window "
        "(`RefreshGraceSeconds`), it answers the same new pair; later, it revokes every "
        "token of that login (reuse detection) and answers 401. A login ends at its "
        "absolute lifetime however often it is refreshed.",
    ),
    Route(
        "POST",
        "/auth/logout",
        "logout",
        "auth",
        "End the login",
        204,
        body=requests.RefreshBody,
        errors=(Code.UNAUTHENTICATED,),
        public=True,
        description="Its refresh token and access tokens are refused from then on; its open "
        "sockets are closed.",
    ),
    Route(
        "POST",
        "/auth/logout-all",
        "logoutAll",
        "auth",
        "End every login of the caller",
        204,
        description="Every refresh and access token of the caller is refused from then on "
        "and every open socket is closed, this login's included.",
    ),
    Route(
        "POST",
        "/me/password",
        "changePassword",
        "users",
        "Change the password",
        204,
        body=requests.ChangePasswordBody,
        errors=(Code.RATE_LIMITED,),
        description="A wrong `oldPassword` answers 401 1003 and counts as a failed login of "
        "the account. Every other login of the caller ends (sockets closed); this one stays.",
    ),
    Route(
        "GET",
        "/me",
        "me",
        "users",
        "The caller's account",
        200,
        Profile,
        errors=(Code.USER_NOT_FOUND,),
    ),
    Route(
        "DELETE",
        "/me",
        "deleteAccount",
        "users",
        "Delete the caller's account",
        204,
        body=requests.DeleteMeBody,
        errors=(Code.RATE_LIMITED,),
        description="A wrong `password` answers 401 1003 and counts as a failed login of the "
        "account. Every login, socket, device and block of the caller goes and they leave "
        "every group (`member_left`); every text, file and custom message they sent reads as "
        "deleted within 5 minutes. The userId stays taken (registering it answers 409 1008).",
    ),
    Route(
        "POST",
        "/me/export",
        "requestExport",
        "users",
        "Ask for an export of the caller's data",
        202,
        ExportCreated,
        errors=(Code.RATE_LIMITED,),
        description="At most 3 a day (1005 past them). The export is ready within minutes; "
        "ask `GET /me/exports/{exportId}`. It is kept one day.",
    ),
    Route(
        "GET",
        "/me/exports/{exportId}",
        "getExport",
        "users",
        "An export's state and download link",
        200,
        ExportStatus,
        errors=(Code.INVALID_PARAM, Code.USER_NOT_FOUND),
        description="`pending`, or `ready` with `url` (valid at most 300 s) downloading JSON "
        "`{profile, conversations, messages, devices, blocks}` with every message the caller "
        "sent. A malformed id answers 400 1001; an unknown, expired or another user's export "
        "404 1002.",
    ),
    Route(
        "POST",
        "/users/{userId}/block",
        "block",
        "users",
        "Block a user",
        204,
        errors=(Code.INVALID_PARAM, Code.USER_NOT_FOUND),
        description="A blocked user cannot open or write to a direct conversation with the "
        "blocker, type in it, nor call them (1004). Blocking yourself: 400 1001.",
    ),
    Route(
        "DELETE",
        "/users/{userId}/block",
        "unblock",
        "users",
        "Lift a block",
        204,
        errors=(Code.INVALID_PARAM, Code.USER_NOT_FOUND),
    ),
    Route(
        "POST",
        "/groups",
        "createGroup",
        "groups",
        "Create a group",
        201,
        Group,
        requests.CreateGroupBody,
        (Code.USER_NOT_FOUND,),
        description="The caller is the owner. Recorded as `system` messages (`group_created`, "
        "then `members_added` chunks).",
    ),
    Route(
        "GET",
        "/groups/{id}",
        "getGroup",
        "groups",
        "A group and its members",
        200,
        Group,
        errors=(Code.FORBIDDEN, Code.CONVERSATION_NOT_FOUND),
    ),
    Route(
        "POST",
        "/groups/{id}/members",
        "addMembers",
        "groups",
        "Add members (owner or admin)",
        200,
        Group,
        requests.AddMembersBody,
        _GROUP,
    ),
    Route(
        "DELETE",
        "/groups/{id}/members/{userId}",
        "removeMember",
        "groups",
        "Remove a member, or leave",
        204,
        errors=(Code.INVALID_PARAM, *_GROUP),
        description="An admin removes members, the owner removes admins and members, anyone "
        "may leave; the owner cannot be removed nor leave before handing ownership over.",
    ),
    Route(
        "PATCH",
        "/groups/{id}/members/{userId}",
        "setRole",
        "groups",
        "Change a member's role (owner only)",
        200,
        RoleChange,
        requests.RoleBody,
        _GROUP,
        description="`owner` hands ownership over: the target becomes the owner and the caller "
        "an admin, recorded as one `role_changed` message with `role: owner`.",
    ),
    Route(
        "GET",
        "/conversations",
        "listConversations",
        "conversations",
        "A page of the caller's conversations",
        200,
        ConversationList,
        query=(
            Query("limit", 1, 200, 100, "Conversations per page."),
            Query(
                "cursor",
                1,
                200,
                None,
                "The previous page's `nextCursor` (opaque); absent: the first page.",
                string=True,
            ),
        ),
        description="In conversationId order. `nextCursor` is null on the last page.",
    ),
    Route(
        "PATCH",
        "/conversations/{id}",
        "setConversationSettings",
        "conversations",
        "Mute or unmute a conversation for the caller",
        200,
        MuteSetting,
        requests.MuteBody,
        errors=(Code.FORBIDDEN,),
        description="Members only: anyone else gets 1004 whether or not the conversation "
        "exists; a malformed id is 1001. A muted conversation sends the caller no offline "
        "notifications (protocol 10).",
    ),
    Route(
        "GET",
        "/conversations/{id}/messages",
        "history",
        "conversations",
        "A page of history",
        200,
        HistoryPage,
        errors=(Code.INVALID_PARAM, Code.FORBIDDEN, Code.CONVERSATION_NOT_FOUND),
        query=(
            Query(
                "beforeSeq",
                1,
                MAX_SEQ,
                None,
                "The page just below this seq (exclusive); absent: the newest page.",
            ),
            Query("limit", 1, 100, 50, "Messages per page."),
        ),
    ),
    Route(
        "GET",
        "/rtc/ice-servers",
        "iceServers",
        "rtc",
        "STUN/TURN servers with short-lived TURN credentials",
        200,
        IceServers,
    ),
    Route(
        "GET",
        "/admin/flags",
        "listFlags",
        "admin",
        "Users flagged by the spam limits",
        200,
        FlagList,
        errors=(Code.FORBIDDEN,),
        description="App admins only (1004 for everyone else). A user is flagged when they "
        "send one text into too many conversations or open too many direct conversations "
        "(protocol 13).",
    ),
    Route(
        "DELETE",
        "/admin/flags/{userId}",
        "clearFlag",
        "admin",
        "Clear a user's flag",
        204,
        errors=(Code.INVALID_PARAM, Code.FORBIDDEN),
        description="App admins only (1004 for everyone else). The user leaves the list of "
        "`GET /admin/flags` until a spam limit flags them again; idempotent (a user who is not "
        "flagged answers 204 too). Written to the audit log.",
    ),
    Route(
        "POST",
        "/admin/users/{userId}/suspend",
        "suspendUser",
        "admin",
        "Suspend a user",
        204,
        body=requests.SuspendBody,
        body_optional=True,
        errors=(Code.INVALID_PARAM, Code.FORBIDDEN, Code.USER_NOT_FOUND),
        description="App admins only (1004 for everyone else). Every login of the user is "
        "revoked and their sockets are closed; from then on their login answers 403 1004 and "
        "their tokens 401 1003. The body may be absent; `reason` goes to the audit log.",
    ),
    Route(
        "DELETE",
        "/admin/users/{userId}/suspend",
        "unsuspendUser",
        "admin",
        "Lift a suspension",
        204,
        errors=(Code.INVALID_PARAM, Code.FORBIDDEN, Code.USER_NOT_FOUND),
        description="App admins only. The user may log in again (idempotent).",
    ),
    Route(
        "DELETE",
        "/admin/conversations/{id}/messages/{seq}",
        "moderateDelete",
        "admin",
        "Delete a message as an app admin",
        204,
        errors=(Code.INVALID_PARAM, Code.FORBIDDEN, Code.NOT_FOUND),
        description="App admins only (1004 for everyone else), member or not. Stored and "
        "pushed as a `delete` event whose sender (and the target's `deleted.by`) is the "
        "admin. An unknown conversation or seq: 404 2003; a message already deleted, or "
        "not a text, file or custom message: 400 1001.",
    ),
    Route(
        "POST",
        "/attachments",
        "createAttachment",
        "attachments",
        "Announce a file and get its upload form",
        201,
        AttachmentUpload,
        requests.AttachmentUploadBody,
        (Code.INVALID_PARAM, Code.FORBIDDEN, Code.PAYLOAD_TOO_LARGE),
        description="Members only (1004, whether or not the conversation exists). Upload "
        "with `multipart/form-data`: every field of `upload.fields`, then the file as "
        "`file`; storage refuses another size (400 `EntityTooLarge`/`EntityTooSmall`) or "
        "content type (403 `AccessDenied`). A size over `MaxAttachmentBytes` is 413 1006. "
        "Uploads no message uses are deleted after 24 hours.",
    ),
    Route(
        "GET",
        "/attachments/{attachmentId}",
        "getAttachment",
        "attachments",
        "An attachment's metadata and download link",
        200,
        AttachmentLink,
        errors=(Code.FORBIDDEN, Code.NOT_FOUND),
        description="The uploader, or a member who can see a message carrying it (joined at "
        "or before that message); others 1004, an unknown id 404 2003. `url` is valid for "
        "at most 300 s.",
    ),
    Route(
        "GET",
        "/push/config",
        "pushConfig",
        "devices",
        "The VAPID public key and the enabled push platforms",
        200,
        PushConfig,
    ),
    Route(
        "POST",
        "/devices",
        "registerDevice",
        "devices",
        "Register a Web Push subscription or an FCM/APNs token",
        201,
        DeviceRegistered,
        requests.DeviceBody,
        (Code.INVALID_PARAM,),
        description="The same endpoint or token again answers 200 with the same `deviceId`. "
        "A Web Push endpoint must be `https` with a DNS host name (no IP literal, no "
        "`localhost`, no userinfo), else 1001; `PushEndpointPolicy=loopback` also admits "
        "`http://127.0.0.1:<port>/`. A platform that is not enabled is 1001. At most 10 "
        "devices: an 11th replaces the least recently registered.",
        also=(200,),
    ),
    Route(
        "GET",
        "/devices",
        "listDevices",
        "devices",
        "The caller's push devices",
        200,
        DeviceList,
    ),
    Route(
        "DELETE",
        "/devices/{deviceId}",
        "deleteDevice",
        "devices",
        "Remove a push device",
        204,
        errors=(Code.NOT_FOUND,),
        description="Another user's device or an unknown id: 404 2003.",
    ),
)


def route_codes(route: Route) -> list[Code]:
    """Every error code the route may answer with, its own and the shared ones."""
    codes = set(route.errors) | {Code.INTERNAL}
    if not route.public:
        codes.add(Code.UNAUTHENTICATED)
    if route.body is not None:
        codes |= {Code.INVALID_PARAM, Code.PAYLOAD_TOO_LARGE}
    if route.query:
        codes.add(Code.INVALID_PARAM)
    if route.path != "/health":
        codes.add(Code.MESSAGE_SEND_FAILED)  # a dependency failed or throttled: retry
    return sorted(codes)
