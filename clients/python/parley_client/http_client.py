"""Async client for Parley's HTTP API (accounts, groups, conversations, history)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import http.client
import json
import logging
import mimetypes
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ._net import is_loopback_url, quote_segment
from .bodies import attachment_request
from .errors import (
    STATUS_TO_CODE,
    ErrorCode,
    ParleyConnectionError,
    ParleyError,
    ParleyTimeoutError,
)
from .multipart import encode_multipart
from .tokens import jwt_claims, token_expires_within
from .wire import JsonObject, compact_json

__all__ = ["HttpClient", "JsonObject", "TokensCallback"]

log = logging.getLogger("parley_client.http")

#: Called with the new token pair (the login/refresh response) after every login and
#: refresh, and with ``None`` after logout, so an application can persist them.
TokensCallback = Callable[["JsonObject | None"], None]

_USER_AGENT = "parley-client/0.1 (python)"


# The protocol's bound: a server asking more is refused rather than solved for hours.
MAX_CHALLENGE_DIFFICULTY = 32


def leading_zero_bits(digest: bytes) -> int:
    """How many zero bits `digest` starts with."""
    bits = 0
    for byte in digest:
        if byte:
            return bits + 8 - byte.bit_length()
        bits += 8
    return bits


def solve_challenge(challenge: str, difficulty: int) -> str:
    """The first decimal counter whose SHA-256(challenge + counter) (UTF-8) starts with
    `difficulty` zero bits (protocol 13)."""
    prefix = hashlib.sha256(challenge.encode())
    counter = 0
    while True:
        candidate = prefix.copy()
        candidate.update(str(counter).encode())
        if leading_zero_bits(candidate.digest()) >= difficulty:
            return str(counter)
        counter += 1


class HttpClient:
    """Async client for the Parley HTTP API.

    Calls run the blocking :mod:`urllib.request` in a worker thread, so they never
    block the event loop. The client keeps the current token pair: :meth:`login` and
    :meth:`refresh` store it, and authenticated calls send the access token. With
    ``auto_refresh`` (the default) a call answered ``401`` is retried once after
    refreshing the pair with the refresh token, and a token about to expire is
    refreshed before use. Refreshes are serialized, so concurrent calls never spend
    the same refresh token twice (which the server would treat as token theft).

    Server errors raise :class:`~parley_client.ParleyError`; an unreachable server
    raises :class:`~parley_client.ParleyConnectionError`; no answer within
    ``timeout`` raises :class:`~parley_client.ParleyTimeoutError`.

    Args:
        base_url: the HTTP API root, e.g. ``http://127.0.0.1:3000`` or an API Gateway
            stage URL (a path prefix is kept).
        access_token: a token pair to start with (e.g. loaded from disk).
        refresh_token: see ``access_token``.
        timeout: seconds to wait for each HTTP response.
        on_tokens: called after each login/refresh with the new pair, and with
            ``None`` after logout.
        auto_refresh: refresh and retry once on ``401``.
        refresh_margin: refresh proactively when the access token expires within
            this many seconds.
    """

    def __init__(
        self,
        base_url: str,
        *,
        access_token: str | None = None,
        refresh_token: str | None = None,
        timeout: float = 30.0,
        on_tokens: TokensCallback | None = None,
        auto_refresh: bool = True,
        refresh_margin: float = 30.0,
    ) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.access_token = access_token
        self.refresh_token = refresh_token
        self.timeout = timeout
        self.on_tokens = on_tokens
        self.auto_refresh = auto_refresh
        self.refresh_margin = refresh_margin
        self._user_id: str | None = None
        self._refresh_lock = asyncio.Lock()
        handlers: list[urllib.request.BaseHandler] = []
        if is_loopback_url(self.base_url):
            handlers.append(urllib.request.ProxyHandler({}))
        self._opener = urllib.request.build_opener(*handlers)

    # ------------------------------------------------------------------ tokens

    @property
    def user_id(self) -> str | None:
        """The logged-in user (from the last login, else the access token's ``sub``)."""
        if self._user_id is not None:
            return self._user_id
        if self.access_token:
            sub = jwt_claims(self.access_token).get("sub")
            return sub if isinstance(sub, str) else None
        return None

    def _store_tokens(self, tokens: JsonObject) -> None:
        access = tokens.get("accessToken")
        refresh = tokens.get("refreshToken")
        if not isinstance(access, str) or not isinstance(refresh, str):
            raise ParleyError(ErrorCode.INTERNAL, "token response without accessToken/refreshToken")
        self.access_token = access
        self.refresh_token = refresh
        if self.on_tokens is not None:
            self.on_tokens(tokens)

    async def token_provider(self, force_refresh: bool = False) -> str:
        """A :data:`~parley_client.TokenProvider` for :class:`~parley_client.ParleyClient`.

        Returns the current access token, refreshing first when ``force_refresh`` is
        true or the token is about to expire (and a refresh token is known).

        Raises:
            ParleyError: code 1003 when not logged in or the refresh was refused.
        """
        token = self.access_token
        if token is None and self.refresh_token is None:
            raise ParleyError(ErrorCode.UNAUTHENTICATED, "not logged in")
        if self.refresh_token is not None and (
            force_refresh or token is None or token_expires_within(token, self.refresh_margin)
        ):
            await self._refresh_unless_changed(token)
        if self.access_token is None:
            raise ParleyError(ErrorCode.UNAUTHENTICATED, "not logged in")
        return self.access_token

    async def _refresh_unless_changed(self, stale: str | None) -> None:
        """Refresh, unless another task already replaced the ``stale`` access token."""
        async with self._refresh_lock:
            if self.access_token != stale and self.access_token is not None:
                return
            await self._do_refresh(None)

    async def _do_refresh(self, refresh_token: str | None) -> JsonObject:
        token = refresh_token or self.refresh_token
        if not token:
            raise ParleyError(ErrorCode.UNAUTHENTICATED, "no refresh token")
        result = await self._call("POST", "/auth/refresh", {"refreshToken": token}, None)
        tokens = _expect_object(result)
        self._store_tokens(tokens)
        return tokens

    # ------------------------------------------------------------- transport

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: Mapping[str, Any] | None = None,
        auth: bool = True,
    ) -> Any:
        """Send one request and return the decoded JSON body (``None`` for an empty one).

        ``path`` is appended to the base URL as is (quote path segments yourself);
        ``query`` values that are ``None`` are left out. With ``auth`` the access token
        is sent, and a ``401`` is retried once after a refresh (see the class doc).
        """
        if query:
            pairs = {k: str(v) for k, v in query.items() if v is not None}
            if pairs:
                path = f"{path}?{urllib.parse.urlencode(pairs)}"
        if not auth:
            return await self._call(method, path, body, None)
        token = self.access_token
        if (
            self.auto_refresh
            and self.refresh_token is not None
            and (token is None or token_expires_within(token, self.refresh_margin))
        ):
            await self._refresh_unless_changed(token)
            token = self.access_token
        try:
            return await self._call(method, path, body, token)
        except ParleyError as exc:
            if exc.status != 401 or not self.auto_refresh or self.refresh_token is None:
                raise
        log.debug("%s %s answered 401; refreshing the token pair", method, path)
        await self._refresh_unless_changed(token)
        return await self._call(method, path, body, self.access_token)

    async def _call(self, method: str, path: str, body: Any, token: str | None) -> Any:
        return await asyncio.to_thread(self._call_blocking, method, path, body, token)

    def _call_blocking(self, method: str, path: str, body: Any, token: str | None) -> Any:
        url = self.base_url + path
        headers = {"Accept": "application/json", "User-Agent": _USER_AGENT}
        data: bytes | None = None
        if body is not None:
            data = compact_json(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
        try:
            with self._opener.open(req, timeout=self.timeout) as resp:
                status = resp.status
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            with exc:
                raw = exc.read()
                raise _http_error(exc.code, raw, exc.headers.get("Retry-After")) from None
        except TimeoutError as exc:
            raise ParleyTimeoutError(
                f"{method} {url}: no response within {self.timeout} s"
            ) from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise ParleyTimeoutError(
                    f"{method} {url}: no response within {self.timeout} s"
                ) from exc
            raise ParleyConnectionError(f"cannot reach {url}: {exc.reason}") from exc
        except (OSError, http.client.HTTPException) as exc:
            raise ParleyConnectionError(f"{method} {url} failed: {exc}") from exc
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise ParleyError(
                ErrorCode.INTERNAL, f"{method} {url}: response is not JSON", status
            ) from None

    # ---------------------------------------------------------------- routes

    async def health(self) -> JsonObject:
        """``GET /health`` → ``{"status": "ok"}`` once the stack can serve."""
        return _expect_object(await self.request("GET", "/health", auth=False))

    async def register(
        self, user_id: str, password: str, display_name: str | None = None
    ) -> JsonObject:
        """Create an account → ``{"userId"}``. Taken: ``ParleyError`` 1008 (409); too many
        from this address: 1005 (429).

        When the server asks a registration challenge (protocol 13), it is fetched from
        ``GET /auth/challenge`` and solved first: about 2^difficulty SHA-256 hashes, run
        off the event loop (a second or so at the default difficulty of 20).
        """
        body: JsonObject = {"userId": user_id, "password": password}
        if display_name is not None:
            body["displayName"] = display_name
        body.update(await self._solved_challenge())
        return _expect_object(await self.request("POST", "/auth/register", body, auth=False))

    async def _solved_challenge(self) -> JsonObject:
        """``{challenge, solution}`` when the server asks one; ``{}`` when it answers 404
        (it asks none, or predates challenges)."""
        try:
            issued = _expect_object(await self.request("GET", "/auth/challenge", auth=False))
        except ParleyError as err:
            if err.status == 404:
                return {}
            raise
        challenge, difficulty = issued.get("challenge"), issued.get("difficulty")
        if not isinstance(challenge, str) or type(difficulty) is not int:
            raise ParleyError(ErrorCode.INTERNAL, "malformed registration challenge")
        if not 0 < difficulty <= MAX_CHALLENGE_DIFFICULTY:
            raise ParleyError(ErrorCode.INTERNAL, f"challenge difficulty {difficulty} refused")
        solution = await asyncio.to_thread(solve_challenge, challenge, difficulty)
        return {"challenge": challenge, "solution": solution}

    async def login(self, user_id: str, password: str) -> JsonObject:
        """Log in and keep the pair → ``{accessToken, refreshToken, tokenType, expiresIn}``.

        Unknown user or wrong password: ``ParleyError`` 1003 (401); too many failed
        attempts: 1005 (429) with ``retry_after_ms``.
        """
        body = {"userId": user_id, "password": password}
        tokens = _expect_object(await self.request("POST", "/auth/login", body, auth=False))
        self._user_id = user_id
        self._store_tokens(tokens)
        return tokens

    async def refresh(self, refresh_token: str | None = None) -> JsonObject:
        """Exchange the refresh token (default: the stored one) for a new pair, and keep it.

        The used refresh token is spent: presented again within the server's grace window
        (30 s by default) it answers the same new pair, later it revokes the whole login.
        """
        async with self._refresh_lock:
            return await self._do_refresh(refresh_token)

    async def logout(self, refresh_token: str | None = None) -> None:
        """End the login (default: the stored one) and forget the stored pair."""
        token = refresh_token or self.refresh_token
        if not token:
            raise ParleyError(ErrorCode.UNAUTHENTICATED, "no refresh token")
        await self.request("POST", "/auth/logout", {"refreshToken": token}, auth=False)
        if refresh_token is None or refresh_token == self.refresh_token:
            self.access_token = None
            self.refresh_token = None
            self._user_id = None
            if self.on_tokens is not None:
                self.on_tokens(None)

    async def me(self) -> JsonObject:
        """``GET /me`` → ``{userId, displayName}``."""
        return _expect_object(await self.request("GET", "/me"))

    async def create_group(self, name: str, members: list[str]) -> JsonObject:
        """Create a group (the caller is its owner) → ``{conversationId, name, members}``."""
        body = {"name": name, "members": list(members)}
        return _expect_object(await self.request("POST", "/groups", body))

    async def get_group(self, conversation_id: str) -> JsonObject:
        """``GET /groups/{id}`` → ``{conversationId, name, members: [{userId, role}]}``."""
        return _expect_object(
            await self.request("GET", f"/groups/{quote_segment(conversation_id)}")
        )

    async def add_members(self, conversation_id: str, user_ids: list[str]) -> JsonObject:
        """Add members (owner or admin only); returns the server's body (``{}`` if empty)."""
        path = f"/groups/{quote_segment(conversation_id)}/members"
        return _object_or_empty(await self.request("POST", path, {"userIds": list(user_ids)}))

    async def remove_member(self, conversation_id: str, user_id: str) -> None:
        """Remove a member (owner/admin), or leave the group (``user_id`` = yourself)."""
        path = f"/groups/{quote_segment(conversation_id)}/members/{quote_segment(user_id)}"
        await self.request("DELETE", path)

    async def set_role(self, conversation_id: str, user_id: str, role: str) -> JsonObject:
        """Make a member ``"admin"`` or ``"member"`` (owner only)."""
        path = f"/groups/{quote_segment(conversation_id)}/members/{quote_segment(user_id)}"
        return _object_or_empty(await self.request("PATCH", path, {"role": role}))

    async def conversations(self, page_size: int = 100) -> list[JsonObject]:
        """Every conversation of the caller, following the list's pages (protocol §11).

        Returns:
            ``[{conversationId, type, name?, lastSeq, readSeq, unread, muted}]``, in
            conversationId order.
        """
        out: list[JsonObject] = []
        cursor: str | None = None
        while True:
            page = await self.conversations_page(page_size, cursor)
            out += page["conversations"]
            next_cursor = page.get("nextCursor")
            if not isinstance(next_cursor, str) or not next_cursor:
                return out
            cursor = next_cursor

    async def conversations_page(self, limit: int = 100, cursor: str | None = None) -> JsonObject:
        """One page of ``GET /conversations`` → ``{conversations, nextCursor}``
        (``nextCursor`` is ``None`` on the last page)."""
        body = _expect_object(
            await self.request("GET", "/conversations", query={"limit": limit, "cursor": cursor})
        )
        items = body.get("conversations")
        if not isinstance(items, list):
            raise ParleyError(ErrorCode.INTERNAL, "GET /conversations: no 'conversations' list")
        return {
            "conversations": [c for c in items if isinstance(c, dict)],
            "nextCursor": body.get("nextCursor"),
        }

    async def set_muted(self, conversation_id: str, muted: bool = True) -> JsonObject:
        """Mute (or unmute) a conversation for yourself: no offline notifications from it
        (protocol §11) → ``{conversationId, muted}``."""
        path = f"/conversations/{quote_segment(conversation_id)}"
        return _expect_object(await self.request("PATCH", path, {"muted": muted}))

    async def history(
        self, conversation_id: str, before_seq: int | None = None, limit: int = 50
    ) -> JsonObject:
        """One page of history → ``{messages: [...ascending seq], nextBeforeSeq}``.

        The page holds the messages just below ``before_seq`` (the newest page when
        ``None``); pass ``nextBeforeSeq`` as ``before_seq`` for the next older page,
        until it is ``None``.
        """
        path = f"/conversations/{quote_segment(conversation_id)}/messages"
        query = {"beforeSeq": before_seq, "limit": limit}
        return _expect_object(await self.request("GET", path, query=query))

    async def block(self, user_id: str) -> None:
        """Block ``user_id``: no direct messages or calls from them."""
        await self.request("POST", f"/users/{quote_segment(user_id)}/block")

    async def unblock(self, user_id: str) -> None:
        """Undo :meth:`block`."""
        await self.request("DELETE", f"/users/{quote_segment(user_id)}/block")

    async def ice_servers(self) -> JsonObject:
        """``GET /rtc/ice-servers`` → ``{iceServers: [{urls, username?, credential?}], ttl}``."""
        return _expect_object(await self.request("GET", "/rtc/ice-servers"))

    # ------------------------------------------------------- devices (protocol 10)

    async def push_config(self) -> JsonObject:
        """``GET /push/config`` → ``{webpush: {vapidPublicKey}, fcm, apns}``: the VAPID key
        (base64url, 65-byte uncompressed P-256 point) to subscribe with, and whether FCM
        and APNs are enabled."""
        return _expect_object(await self.request("GET", "/push/config"))

    async def register_device(
        self,
        platform: str = "webpush",
        *,
        endpoint: str | None = None,
        p256dh: str | None = None,
        auth: str | None = None,
        token: str | None = None,
    ) -> str:
        """Register a device for offline notifications and return its ``deviceId``.

        Web Push (the default) takes a subscription's ``endpoint`` and its ``p256dh`` and
        ``auth`` keys (base64url, as a browser's ``PushSubscription.toJSON()`` gives them);
        ``fcm`` and ``apns`` take the platform's ``token``. Registering the same endpoint
        or token again answers the same id. A user keeps at most 10 devices: an 11th
        replaces the least recently registered.

        Raises:
            ParleyError: 1001 for a refused endpoint or a platform that is not enabled.
        """
        body: JsonObject
        if platform == "webpush":
            if not (endpoint and p256dh and auth):
                raise ValueError("a Web Push device needs endpoint, p256dh and auth")
            body = {
                "platform": "webpush",
                "subscription": {"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}},
            }
        else:
            if not token:
                raise ValueError(f"a {platform} device needs its token")
            body = {"platform": platform, "token": token}
        reply = _expect_object(await self.request("POST", "/devices", body))
        device_id = reply.get("deviceId")
        if not isinstance(device_id, str):
            raise ParleyError(ErrorCode.INTERNAL, "device registration without deviceId")
        return device_id

    async def devices(self) -> list[JsonObject]:
        """Your registered devices → ``[{deviceId, platform, createdAt}]``."""
        body = _expect_object(await self.request("GET", "/devices"))
        items = body.get("devices")
        return [d for d in items if isinstance(d, dict)] if isinstance(items, list) else []

    async def remove_device(self, device_id: str) -> None:
        """Remove one of your devices (2003 when it is not yours or does not exist)."""
        await self.request("DELETE", f"/devices/{quote_segment(device_id)}")

    # ------------------------------------------------------------ account (protocol 12)

    async def delete_account(self, password: str) -> None:
        """``DELETE /me``: delete your account (wrong password: ``ParleyError`` 1003). Every
        login ends, this one included; your messages read as deleted within minutes."""
        await self.request("DELETE", "/me", {"password": password})

    async def request_export(self) -> str:
        """``POST /me/export`` → the exportId (at most 3 a day: 1005 past them)."""
        reply = _expect_object(await self.request("POST", "/me/export"))
        export_id = reply.get("exportId")
        if not isinstance(export_id, str):
            raise ParleyError(ErrorCode.INTERNAL, "export request without exportId")
        return export_id

    async def export(self, export_id: str) -> JsonObject:
        """``GET /me/exports/{id}`` → ``{status: "pending"}`` or ``{status: "ready", url,
        expiresIn}``."""
        path = f"/me/exports/{quote_segment(export_id)}"
        return _expect_object(await self.request("GET", path))

    async def download_export(
        self,
        export_id: str,
        dest: str | os.PathLike[str],
        *,
        wait: float = 120.0,
        every: float = 2.0,
    ) -> Path:
        """Wait (up to ``wait`` seconds) for the export to be ready, then save its JSON to
        ``dest`` (a file, or a directory to write ``parley-export-<id>.json`` into)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        info = await self.export(export_id)
        while info.get("status") != "ready":
            if loop.time() >= deadline:
                raise ParleyError(ErrorCode.MESSAGE_SEND_FAILED, "export still pending")
            await asyncio.sleep(every)
            info = await self.export(export_id)
        url = info.get("url")
        if not isinstance(url, str):
            raise ParleyError(ErrorCode.INTERNAL, f"export {export_id}: no url")
        target = Path(dest)
        if target.is_dir():
            target = target / f"parley-export-{export_id}.json"
        await asyncio.to_thread(self._storage_blocking, "GET", url, None, {}, target)
        return target

    # ------------------------------------------------------------ attachments

    async def create_attachment(
        self, conversation_id: str, name: str, size: int, content_type: str
    ) -> JsonObject:
        """``POST /attachments`` → ``{attachmentId, upload: {url, fields}, expiresIn}``.

        The name, size and content type are checked first (protocol §9.3): a bad one
        raises ``ParleyError`` 1001 or 1006 without a request.
        """
        body = attachment_request(conversation_id, name, size, content_type)
        return _expect_object(await self.request("POST", "/attachments", body))

    async def upload_attachment(
        self,
        conversation_id: str,
        source: str | os.PathLike[str] | bytes,
        *,
        name: str | None = None,
        content_type: str | None = None,
    ) -> JsonObject:
        """Create an attachment for ``conversation_id`` and upload the file to it.

        ``source`` is a path (``name`` defaults to its file name) or the bytes
        themselves (``name`` required). ``content_type`` defaults to a guess from
        the name, else ``application/octet-stream``. The file is read whole (the
        server caps attachments at ``MaxAttachmentBytes``, 25 MiB by default) and
        posted as ``multipart/form-data``: every field of ``upload.fields``, then
        the file as ``file``.

        Returns:
            the ``POST /attachments`` reply; send its ``attachmentId`` in a file body.

        Raises:
            ParleyError: a refused body (1001, 1006, 1004), or storage refusing the
                upload (1006 for a size over the signed range, else by status).
        """
        if isinstance(source, bytes):
            if not name:
                raise ValueError("give name= when uploading bytes")
            content = source
        else:
            path = Path(source)
            content = await asyncio.to_thread(path.read_bytes)
            name = name or path.name
        content_type = content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        created = await self.create_attachment(conversation_id, name, len(content), content_type)
        upload = created.get("upload")
        if not isinstance(upload, dict) or not isinstance(upload.get("url"), str):
            raise ParleyError(ErrorCode.INTERNAL, "POST /attachments: no upload url")
        fields = upload.get("fields") or {}
        if not isinstance(fields, dict):
            raise ParleyError(ErrorCode.INTERNAL, "POST /attachments: upload fields not an object")
        data, header = encode_multipart(
            {str(k): str(v) for k, v in fields.items()}, name, content, content_type
        )
        await asyncio.to_thread(
            self._storage_blocking, "POST", upload["url"], data, {"Content-Type": header}, None
        )
        return created

    async def attachment(self, attachment_id: str) -> JsonObject:
        """``GET /attachments/{id}`` → ``{attachmentId, conversationId, name, size,
        contentType, url, expiresIn}``; ``url`` downloads the file for a few minutes."""
        path = f"/attachments/{quote_segment(attachment_id)}"
        return _expect_object(await self.request("GET", path))

    async def download(
        self, attachment_id: str, dest: str | os.PathLike[str] | None = None
    ) -> Path:
        """Download an attachment to ``dest`` and return the path written.

        ``dest`` is a file path, or a directory to write the attachment's own name
        into (default: the current directory). The file is written whole or not at
        all (a partial download is removed).
        """
        info = await self.attachment(attachment_id)
        url = info.get("url")
        if not isinstance(url, str):
            raise ParleyError(ErrorCode.INTERNAL, f"GET /attachments/{attachment_id}: no url")
        target = Path(dest) if dest is not None else Path()
        if target.is_dir():
            target = target / _safe_name(info.get("name"), attachment_id)
        await asyncio.to_thread(self._storage_blocking, "GET", url, None, {}, target)
        return target

    def _storage_blocking(
        self,
        method: str,
        url: str,
        data: bytes | None,
        headers: Mapping[str, str],
        dest: Path | None,
    ) -> None:
        """One request to a presigned storage URL (no bearer token: the URL is signed)."""
        handlers: list[urllib.request.BaseHandler] = []
        if is_loopback_url(url):
            handlers.append(urllib.request.ProxyHandler({}))
        opener = urllib.request.build_opener(*handlers)
        req = urllib.request.Request(  # noqa: S310
            url, data=data, headers={"User-Agent": _USER_AGENT, **headers}, method=method
        )
        # the URL's query holds its signature: keep it out of error messages
        shown = url.split("?", 1)[0]
        try:
            with opener.open(req, timeout=self.timeout) as resp:
                if dest is None:
                    resp.read()
                    return
                try:
                    with dest.open("wb") as out:
                        while chunk := resp.read(1 << 16):
                            out.write(chunk)
                except BaseException:
                    dest.unlink(missing_ok=True)
                    raise
        except urllib.error.HTTPError as exc:
            with exc:
                raise _storage_error(exc.code, exc.read(), f"{method} {shown}") from None
        except TimeoutError as exc:
            raise ParleyTimeoutError(f"{method} {shown}: no response in {self.timeout} s") from exc
        except urllib.error.URLError as exc:
            raise ParleyConnectionError(f"cannot reach {shown}: {exc.reason}") from exc
        except (OSError, http.client.HTTPException) as exc:
            if isinstance(exc, FileNotFoundError | PermissionError | IsADirectoryError):
                raise
            raise ParleyConnectionError(f"{method} {shown} failed: {exc}") from exc


def _safe_name(name: Any, fallback: str) -> str:
    """An attachment's name usable as a file name here (never a path or ``..``)."""
    if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\\" in name:
        return fallback
    return name


#: Storage error codes (S3's XML ``<Code>``) and the protocol code they amount to.
_STORAGE_CODES = {
    "EntityTooLarge": ErrorCode.PAYLOAD_TOO_LARGE,
    "EntityTooSmall": ErrorCode.INVALID_PARAM,
    "AccessDenied": ErrorCode.FORBIDDEN,
    "NoSuchKey": ErrorCode.NOT_FOUND,
}


def _storage_error(status: int, raw: bytes, what: str) -> ParleyError:
    """A storage error response (XML ``<Error><Code>...``) as a ``ParleyError``."""
    text = raw.decode("utf-8", "replace")
    match = re.search(r"<Code>([^<]{1,100})</Code>", text)
    storage_code = match.group(1) if match else ""
    code = _STORAGE_CODES.get(storage_code) or STATUS_TO_CODE.get(status, ErrorCode.INTERNAL)
    detail = f" {storage_code}" if storage_code else ""
    return ParleyError(code, f"{what}: storage answered HTTP {status}{detail}", status)


def _http_error(status: int, raw: bytes, retry_after_header: str | None) -> ParleyError:
    body: Any = None
    try:
        body = json.loads(raw) if raw.strip() else None
    except ValueError:
        body = None
    if not isinstance(body, dict) or "code" not in body:
        text = raw.decode("utf-8", "replace").strip()[:200]
        body = {"message": text or f"HTTP {status}"}
    error = ParleyError.from_body(body, status)
    if error.retry_after_ms is None and retry_after_header:
        with contextlib.suppress(ValueError):
            error.retry_after_ms = int(float(retry_after_header) * 1000)
    return error


def _expect_object(value: Any) -> JsonObject:
    if not isinstance(value, dict):
        raise ParleyError(ErrorCode.INTERNAL, f"expected a JSON object, got {type(value).__name__}")
    return value


def _object_or_empty(value: Any) -> JsonObject:
    return value if isinstance(value, dict) else {}
