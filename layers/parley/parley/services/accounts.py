"""Account lifecycle (protocol 12): `DELETE /me`, `POST /me/export`, `GET /me/exports/{id}`,
and the account jobs that finish them (docs/architecture.md, "Account erasure and export").

`DELETE /me` checks the password, schedules the erasure job (delayed longer than the request
can last), commits by marking the profile deleted, ends every login and socket and asks for
an immediate run. The job does nothing for a profile without the mark (a request that failed
before its commit), else redoes the idempotent cleanup (logins, devices, blocks, groups) and
deletes, through the ordinary delete event, every text, file and custom message the user
sent, in every conversation they wrote in: current ones and the groups they left. A run that
runs short of time enqueues its continuation (conversation and seq) and stops.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypedDict

from parley import ids
from parley.clock import Clock
from parley.errors import (
    Forbidden,
    InvalidParam,
    NotFound,
    ParleyError,
    RateLimited,
    UserNotFound,
)
from parley.ports import (
    AccountJobs,
    Accounts,
    Conversations,
    Devices,
    ExportObjects,
    Members,
    SentMessages,
    Users,
)
from parley.records import AccountJob, ExportRecord, Message, is_countable

if TYPE_CHECKING:
    from parley.services.auth import AuthService
    from parley.services.devices import DeviceService
    from parley.services.groups import GroupService
    from parley.services.messages import MessageService

DAY = 86400
EXPORTS_PER_DAY = 3
LINK_SECONDS = 300  # a presigned export link, as long as an attachment's
PAGE = 200  # items a Query of one sender's messages evaluates
EXPORT_FIELDS = ("seq", "messageId", "clientMsgId", "body", "ts", "edited", "deleted", "reactions")


class ExportLink(TypedDict, total=False):
    """The body of `GET /me/exports/{exportId}`."""

    status: str
    url: str
    expiresIn: int


class Outcome(StrEnum):
    """What one account job did."""

    NOT_DELETED = "not-deleted"  # an erasure for a profile without the mark: nothing
    ERASED = "erased"
    CONTINUED = "continued"  # ran short of time: its continuation is queued
    EXPORTED = "exported"
    GONE = "gone"  # an export whose record expired or was already written


@dataclass(eq=False, kw_only=True)
class AccountService:
    """The HTTP side: deletion (the auth function) and exports (the users function)."""

    accounts: Accounts
    jobs: AccountJobs
    clock: Clock
    auth: AuthService | None = None  # the deletion's password check and logout
    objects: ExportObjects | None = None  # the ready export's link
    exports_per_day: int = EXPORTS_PER_DAY

    def delete(self, user_id: str, password: str, source_ip: str | None = None) -> None:
        """`DELETE /me`: 401 1003 for a wrong password (counted like a failed login).

        The job is scheduled before the commit, delayed longer than this request can last,
        so every committed deletion has a job behind it and the job never reads the profile
        before the commit could have happened; a request that fails before committing
        leaves a job that finds no mark and does nothing.
        """
        auth = self._auth()
        auth.verify_password(user_id, password, source_ip)
        self.jobs.send({"kind": "erase", "userId": user_id}, delayed=True)
        # False: a concurrent DELETE /me committed first; the rest is idempotent.
        self.accounts.mark_deleted(user_id, self.clock.now_ms())
        auth.revoke_user(user_id)
        # Start the cleanup now rather than after the delay; the delayed job is the one the
        # deletion relies on, so losing this one only costs the delay.
        with contextlib.suppress(ParleyError):
            self.jobs.send({"kind": "erase", "userId": user_id})

    def request_export(self, user_id: str) -> dict[str, str]:
        """`POST /me/export`: a pending record and its job; 1005 past the day's exports."""
        now = self.clock.now_ms()
        recent = [r for r in self.accounts.exports(user_id) if r["createdAt"] > now - DAY * 1000]
        if len(recent) >= self.exports_per_day:
            raise RateLimited(f"at most {self.exports_per_day} exports a day")
        export_id = ids.new_ulid(now)
        record: ExportRecord = {
            "exportId": export_id,
            "status": "pending",
            "createdAt": now,
            # The record lives as long as the object (the bucket's exports/ rule: one day).
            "expiresAt": now // 1000 + DAY,
        }
        self.accounts.put_export(user_id, record)
        self.jobs.send({"kind": "export", "userId": user_id, "exportId": export_id})
        return {"exportId": export_id}

    def get_export(self, user_id: str, export_id: str) -> ExportLink:
        """`GET /me/exports/{exportId}`: pending, or ready with a presigned link. 1001 for a
        malformed id; 404 1002 for an unknown, expired or another user's export."""
        if not isinstance(export_id, str) or ids.ULID_RE.fullmatch(export_id) is None:
            raise InvalidParam("exportId: not an export id")
        record = self.accounts.get_export(user_id, export_id)
        now = self.clock.now_ms() // 1000
        if record is None or record["expiresAt"] <= now:
            raise UserNotFound("no such export")
        key = record.get("objectKey")
        if record["status"] != "ready" or key is None:
            return {"status": "pending"}
        if self.objects is None:
            raise InvalidParam("exports are not enabled")
        expires_in = max(1, min(LINK_SECONDS, record["expiresAt"] - now))
        url = self.objects.download_url(
            key, f"parley-export-{export_id}.json", "application/json", expires_in
        )
        return {"status": "ready", "url": url, "expiresIn": expires_in}

    def _auth(self) -> AuthService:
        if self.auth is None:
            raise InvalidParam("account deletion is not enabled here")
        return self.auth


@dataclass(eq=False, kw_only=True)
class AccountJobService:
    """The account jobs function: erasures (with continuations) and exports."""

    accounts: Accounts
    users: Users
    members: Members
    conversations: Conversations
    sent: SentMessages
    jobs: AccountJobs
    messages: MessageService
    groups: GroupService
    auth: AuthService
    devices: Devices
    device_service: DeviceService
    objects: ExportObjects
    clock: Clock
    reserve_ms: int = 15_000  # stop and continue later with this much time left
    page: int = PAGE
    on_skip: Callable[..., None] | None = None

    def run(self, job: AccountJob, time_left_ms: Callable[[], int]) -> Outcome:
        """Run one job; `time_left_ms` is the invocation's remaining time."""
        if job["kind"] == "export":
            return self.export(job["userId"], job.get("exportId", ""))
        return self.erase(job, time_left_ms)

    # ---- erasure ------------------------------------------------------------------------

    def erase(self, job: AccountJob, time_left_ms: Callable[[], int]) -> Outcome:
        """Erase a deleted account (nothing unless the profile carries the mark): the
        cleanup (first run only), then every text, file and custom message the user sent,
        conversation by conversation in id order, from the job's cursor on."""
        user = job["userId"]
        if not self.accounts.is_deleted(user):
            return Outcome.NOT_DELETED
        resume = job.get("conversationId")
        if resume is None:
            self.cleanup(user)
        for conversation_id in self.written_in(user):
            if resume is not None and conversation_id < resume:
                continue
            after = int(job.get("seq", 0)) if conversation_id == resume else 0
            while True:
                if time_left_ms() < self.reserve_ms:
                    self._continue(user, conversation_id, after)
                    return Outcome.CONTINUED
                found, last = self.sent.sent_page(conversation_id, user, after, self.page)
                for message in found:
                    if time_left_ms() < self.reserve_ms:
                        self._continue(user, conversation_id, after)
                        return Outcome.CONTINUED
                    if is_countable(message["body"]) and "deleted" not in message:
                        self._erase_one(user, conversation_id, message["seq"])
                    after = message["seq"]
                if last is None:
                    break
                after = last
        return Outcome.ERASED

    def written_in(self, user_id: str) -> list[str]:
        """Every conversation the user may have written in, sorted: their memberships
        (direct conversations included) and the groups they left."""
        current = {m["conversationId"] for m in self.members.for_user(user_id)}
        return sorted(current | set(self.accounts.left_groups(user_id)))

    def cleanup(self, user_id: str) -> None:
        """Every login and socket ended, devices removed, blocks lifted, every group left
        (`member_left`), and the partners of its direct conversations kept from writing
        there: idempotent, the deletion request did the logins already."""
        self.auth.revoke_user(user_id)
        for device in self.devices.list_for(user_id):
            with contextlib.suppress(NotFound):
                self.device_service.delete(user_id, device["deviceId"])
        for blocked in self.accounts.blocked_users(user_id):
            self.users.unblock(user_id, blocked)
        for membership in self.members.for_user(user_id):
            conversation_id = membership["conversationId"]
            if ids.conversation_type(conversation_id) == "group":
                self.groups.depart(user_id, conversation_id)
            else:
                # Nobody will read a deleted account's direct conversations: the partner's
                # sends there answer 1004 (the block flag every send already reads), instead
                # of being stored for no one.
                for partner in ids.dm_members(conversation_id):
                    if partner != user_id:
                        self.members.set_blocked(conversation_id, partner, True)

    def _erase_one(self, user: str, conversation_id: str, seq: int) -> None:
        try:
            self.messages.erase_delete(user, conversation_id, seq)
        except (InvalidParam, NotFound, Forbidden) as exc:
            # Deleted meanwhile (by the user, a moderator or a concurrent run) or gone: the
            # message reads as deleted or does not exist, which is what is wanted.
            if self.on_skip is not None:
                self.on_skip("message skipped", extra={"seq": seq, "reason": str(exc)})

    def _continue(self, user: str, conversation_id: str, seq: int) -> None:
        self.jobs.send(
            {"kind": "erase", "userId": user, "conversationId": conversation_id, "seq": seq}
        )

    # ---- export -------------------------------------------------------------------------

    def export(self, user_id: str, export_id: str) -> Outcome:
        """Write the user's export and mark its record ready (nothing for an unknown or
        written record, or a deleted account)."""
        record = self.accounts.get_export(user_id, export_id) if export_id else None
        if record is None or record["status"] == "ready" or self.accounts.is_deleted(user_id):
            return Outcome.GONE
        key = f"exports/{export_id}.json"
        data = json.dumps(self.gather(user_id), ensure_ascii=False, separators=(",", ":"))
        self.objects.put(key, data.encode(), "application/json")
        self.accounts.export_ready(user_id, export_id, key)
        return Outcome.EXPORTED

    def gather(self, user_id: str) -> dict[str, Any]:
        """`{profile, conversations, messages, devices, blocks}`: what Parley holds of the
        user, without password hashes, push secrets or internal fields."""
        user: dict[str, Any] = dict(self.users.get(user_id) or {})
        profile: dict[str, Any] = {"userId": user_id}
        for field in ("displayName", "createdAt", "lastSeen"):
            if field in user:
                profile[field] = user[field]
        current = {m["conversationId"]: m for m in self.members.for_user(user_id)}
        left = set(self.accounts.left_groups(user_id)) - set(current)
        found = self.conversations.get_many(sorted({*current, *left}))
        conversations: list[dict[str, Any]] = []
        messages: list[dict[str, Any]] = []
        for conversation_id in sorted({*current, *left}):
            entry: dict[str, Any] = {
                "conversationId": conversation_id,
                "type": ids.conversation_type(conversation_id),
                "member": conversation_id in current,
            }
            if conversation_id in current:
                entry["role"] = current[conversation_id]["role"]
            conversation = found.get(conversation_id)
            if conversation is not None and "name" in conversation:
                entry["name"] = conversation["name"]
            conversations.append(entry)
            messages += [self._exported(m) for m in self._sent(conversation_id, user_id)]
        devices = [
            {"deviceId": d["deviceId"], "platform": d["platform"], "createdAt": d["createdAt"]}
            for d in sorted(self.devices.list_for(user_id), key=lambda d: d["deviceId"])
        ]
        return {
            "profile": profile,
            "conversations": conversations,
            "messages": messages,
            "devices": devices,
            "blocks": sorted(self.accounts.blocked_users(user_id)),
        }

    def _sent(self, conversation_id: str, user_id: str) -> list[Message]:
        out: list[Message] = []
        after: int | None = 0
        while after is not None:
            found, after = self.sent.sent_page(conversation_id, user_id, after, self.page)
            out += found
        return out

    @staticmethod
    def _exported(message: Message) -> dict[str, Any]:
        out: dict[str, Any] = {"conversationId": message["conversationId"]}
        out.update({k: message[k] for k in EXPORT_FIELDS if k in message})  # type: ignore[literal-required]
        return out
