"""Reading: conversation list, history pages and `sync` with per-conversation cursors."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import NamedTuple, NotRequired, TypedDict

from parley import frames, ids
from parley.concurrency import gather, parallel_map
from parley.errors import ConversationNotFound, Forbidden, InvalidParam
from parley.ports import Conversations, ListState, Members, Messages, Newest
from parley.records import Member, Message
from parley.services.retention import Retention
from parley.wire import json_size

# API Gateway allows 128 KB per WebSocket message; the protocol promises replies under 96 KB.
SYNC_REPLY_BUDGET = 96 * 1024 - 1
FIRST_READ = 2
"""Messages read of every conversation in a sync's first round (one new message: done)."""
MIN_MESSAGE_BYTES = 150
"""Fewer bytes than any stored message takes in a reply (ids, seq, ts and a body): the
reply budget divided by it bounds how many messages a sync round needs to read."""
MAX_SEQ = 2**53


Ids = list[str]
Pages = dict[str, list[Message]]


def unread(newest: Newest, read_seq: int, count_at_read: int | None) -> int:
    """Countable messages above `read_seq` (protocol 9.2): the running count at the newest
    message less the count at the read position. Where a count is missing (messages stored
    before counts existed) the seq difference stands in, as unread was counted before."""
    if read_seq >= newest.seq:
        return 0
    if read_seq <= 0:
        count_at_read = 0
    if newest.n is None or count_at_read is None:
        return newest.seq - read_seq
    return max(0, min(newest.n - count_at_read, newest.seq - read_seq))


def observed_read_seq(stored: int, own: dict[str, int], user_id: str) -> int:
    """The readSeq a client sees: the Members row's, or the seq of the user's newest own
    message if higher (protocol 5.3.6: storing message n sets its sender's readSeq to at
    least n). `own` is the newest message's map; direct messages carry it instead of a
    Members write per send, groups have none (their sends still write the row)."""
    return max(stored, own.get(user_id, 0))


class ConversationSummary(TypedDict):
    """One conversation of `GET /conversations`."""

    conversationId: str
    type: str
    name: NotRequired[str]
    lastSeq: int
    readSeq: int
    unread: int
    muted: bool


class ConversationList(TypedDict):
    """The body of `GET /conversations`: a page, and the cursor of the next (or None)."""

    conversations: list[ConversationSummary]
    nextCursor: str | None


class MuteSetting(TypedDict):
    """The body of `PATCH /conversations/{id}`."""

    conversationId: str
    muted: bool


DEFAULT_LIST_LIMIT = 100
MAX_LIST_LIMIT = 200


def encode_cursor(conversation_id: str | None) -> str | None:
    """The opaque `nextCursor`: the last conversationId of a page, base64url (no padding)."""
    if conversation_id is None:
        return None
    return base64.urlsafe_b64encode(conversation_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    """The conversationId a `cursor` continues after; 1001 for one this server never made."""
    if cursor is None or cursor == "":
        return None
    try:
        if len(cursor) > 200:
            raise ValueError("too long")
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        return ids.check_conversation_id(raw)
    except (ValueError, UnicodeDecodeError, ConversationNotFound):
        raise InvalidParam("cursor: not a cursor of this list") from None


class HistoryPage(TypedDict):
    """The body of `GET /conversations/{id}/messages`."""

    messages: list[Message]
    nextBeforeSeq: int | None


class SyncEntry(TypedDict):
    """One conversation of a `sync` reply."""

    conversationId: str
    type: str
    lastSeq: int
    readSeq: int
    messages: list[Message]
    hasMore: bool


class SyncResult(NamedTuple):
    """What a `sync` reply carries (:func:`parley.frames.sync` makes the frame)."""

    conversations: list[SyncEntry]
    complete: bool


@dataclass(eq=False, kw_only=True)
class ConversationService:
    """Membership-checked reads of conversations and their messages."""

    messages: Messages
    members: Members
    conversations: Conversations
    retention: Retention | None = None  # protocol 12: MessageRetentionDays (None: forever)

    def _min_ts(self) -> int:
        """The oldest `ts` reads show: messages past retention are hidden whether TTL has
        removed them yet or not, the never-expiring newest one included (0: all shown)."""
        return self.retention.cutoff_ms() if self.retention is not None else 0

    def require_member(self, user_id: str, conversation_id: str) -> Member:
        """The caller's membership row; 1004 for anyone without one, whether or not the
        conversation exists (protocol 13: telling the two apart would let anyone map who
        talks to whom). Only a malformed id is 2002. One read: the row itself."""
        ids.check_conversation_id(conversation_id)
        member = self.members.get(conversation_id, user_id)
        if member is not None:
            return member
        raise Forbidden("not a member of this conversation")

    def list(
        self, user_id: str, limit: int = DEFAULT_LIST_LIMIT, cursor: str | None = None
    ) -> ConversationList:
        """`GET /conversations` (protocol 11): a page of the user's conversations, in
        conversationId order, each with lastSeq, readSeq, unread and muted; `nextCursor`
        continues it (null on the last page). A page of `limit` costs one index Query, one
        newest-seq Query per conversation, and a BatchGetItem each for the metadata, the
        member's own rows and the unread counts."""
        memberships, after = self.members.for_user_page(user_id, limit, decode_cursor(cursor))
        conversation_ids = [m["conversationId"] for m in memberships]
        if not conversation_ids:
            return {"conversations": [], "nextCursor": None}
        meta, newest, states = gather(
            lambda: self.conversations.get_many(conversation_ids),
            lambda: self.messages.newest_many(conversation_ids),
            lambda: self.members.list_states(user_id, conversation_ids),
        )
        read_seqs: dict[str, int] = {}
        for cid in conversation_ids:
            found = newest.get(cid, Newest(0, {}))
            last_seq, own = found.seq, found.own
            state = states.get(cid, ListState(0, False))
            read_seqs[cid] = min(observed_read_seq(state.read_seq, own, user_id), last_seq)
        # Unread counts only text, file and custom messages (protocol 9.2): the difference of
        # the running counts at the newest message and at the read position, one BatchGetItem
        # per 100 conversations here rather than a read or write on every send.
        min_ts = self._min_ts()
        if min_ts:
            unreads = self._unread_kept(newest, read_seqs, min_ts)
        else:
            counted = self.messages.counts_at(
                [(cid, seq) for cid, seq in read_seqs.items() if 0 < seq < newest[cid].seq]
            )
            unreads = {
                cid: unread(newest.get(cid, Newest(0, {})), seq, counted.get((cid, seq), 0))
                for cid, seq in read_seqs.items()
            }
        out: list[ConversationSummary] = []
        for cid in conversation_ids:
            info = meta.get(cid)
            top = newest.get(cid, Newest(0, {}))
            read_seq = read_seqs[cid]
            entry: ConversationSummary = {
                "conversationId": cid,
                "type": info["type"] if info else ids.conversation_type(cid),
                "lastSeq": top.seq,
                "readSeq": read_seq,
                "unread": unreads[cid],
                "muted": states.get(cid, ListState(0, False)).muted,
            }
            if info and info.get("name"):
                entry["name"] = info["name"]
            out.append(entry)
        return {"conversations": out, "nextCursor": encode_cursor(after)}

    def _unread_kept(
        self, newest: dict[str, Newest], read_seqs: dict[str, int], min_ts: int
    ) -> dict[str, int]:
        """Unread under retention: the countable messages above the read position that are
        still kept, what a sync can still deliver. The count at the read position may be
        gone with its message, so each conversation with unread messages reads its oldest
        kept message above it instead (one Query each, in parallel, in place of the
        BatchGetItem), whose running count less itself is the count just below it."""
        behind = [cid for cid, seq in read_seqs.items() if seq < newest[cid].seq]
        found = parallel_map(
            lambda cid: self.messages.count_below_kept(cid, read_seqs[cid], min_ts), behind
        )
        counts = dict.fromkeys(read_seqs, 0)
        for cid, kept in zip(behind, found, strict=True):
            if kept is not None:
                first_kept, below = kept
                counts[cid] = unread(newest[cid], first_kept - 1, below)
        return counts

    def set_muted(self, user_id: str, conversation_id: str, muted: bool) -> MuteSetting:
        """`PATCH /conversations/{id}` (protocol 11): members only, 1004 for anyone else
        whether or not the conversation exists (a malformed id is 1001)."""
        try:
            cid = ids.check_conversation_id(conversation_id)
        except ConversationNotFound:
            raise InvalidParam("malformed conversation id") from None
        if not self.members.set_muted(cid, user_id, muted):
            raise Forbidden("not a member of this conversation")
        return {"conversationId": cid, "muted": muted}

    def history(
        self, user_id: str, conversation_id: str, before_seq: int | None, limit: int
    ) -> HistoryPage:
        """A page of messages just below `before_seq`, ascending, from the member's join on
        (and, with retention, from the oldest kept message on)."""
        member = self.require_member(user_id, conversation_id)
        first_visible = int(member.get("joinedSeq", 1))
        upper = MAX_SEQ if before_seq is None else before_seq
        min_ts = self._min_ts()
        page = self.messages.before(conversation_id, upper, first_visible, limit, min_ts=min_ts)
        lowest = page[0]["seq"] if page else None
        next_before = lowest if lowest is not None and lowest > first_visible else None
        if min_ts and len(page) < limit:
            next_before = None  # the page stopped at the oldest kept message
        return {"messages": page, "nextBeforeSeq": next_before}

    def _read_pages(
        self, conversation_ids: Ids, starts: dict[str, int], limit: int, budget: int
    ) -> tuple[Pages, dict[str, dict[str, int]], dict[str, bool]]:
        """The messages above each start, read in two bounded rounds: the pages, the `own`
        map of each page's last message, and whether each conversation has more.

        Round 1 reads at most `FIRST_READ` messages of every conversation, in parallel: one
        new message is then complete in one round trip. Round 2 reads further only for the
        conversations whose first page was full, oldest cursor first, and only as many
        messages as the reply could still hold (`budget` / `MIN_MESSAGE_BYTES`), so a user
        in hundreds of busy conversations reads about what one reply carries, not
        `limit` messages of each (docs/architecture.md, "Sync and history").
        """
        first = min(limit + 1, FIRST_READ)
        # Retention: a cursor below the oldest kept message gets the kept ones from there.
        min_ts = self._min_ts()
        round1 = parallel_map(
            lambda cid: self.messages.after_with_own(cid, starts[cid], first, min_ts=min_ts),
            conversation_ids,
        )
        pages: Pages = {}
        owns: dict[str, dict[str, int]] = {}
        for cid, (page, own) in zip(conversation_ids, round1, strict=True):
            if page:
                pages[cid], owns[cid] = page, own
        full = [cid for cid in pages if len(pages[cid]) >= first and first <= limit]
        items_left = budget // MIN_MESSAGE_BYTES - sum(len(p) for p in pages.values())
        wanted: dict[str, int] = {}
        for cid in sorted(full, key=lambda c: (starts[c], c)):
            if items_left <= 0:
                break
            # One more than the page can take says whether there is more.
            want = min(limit + 1 - len(pages[cid]), items_left + 1)
            wanted[cid] = want
            items_left -= want - 1
        chosen: Ids = [*wanted]
        round2 = parallel_map(
            lambda cid: self.messages.after_with_own(
                cid, pages[cid][-1]["seq"], wanted[cid], min_ts=min_ts
            ),
            chosen,
        )
        capped: set[str] = set(full) - set(wanted)
        for cid, (more, own) in zip(chosen, round2, strict=True):
            if more:
                pages[cid] = pages[cid] + more
                owns[cid] = own
            if len(more) == wanted[cid] and len(pages[cid]) <= limit:
                capped.add(cid)  # stopped by the budget, not by the end of the log
        has_more = {cid: len(page) > limit or cid in capped for cid, page in pages.items()}
        return {cid: page[:limit] for cid, page in pages.items()}, owns, has_more

    def sync(
        self,
        user_id: str,
        cursors: dict[str, int],
        limit: int,
        request_id: str | None = None,
        budget: int = SYNC_REPLY_BUDGET,
    ) -> SyncResult:
        """Messages above each cursor, for every conversation of the user with something new.

        The reply (`frames.sync` of the result, with `request_id`) stays under `budget`
        bytes; `complete` is false when any conversation has more or was left out for size,
        and the client then syncs again from its new cursors.
        """
        memberships = self.members.for_user(user_id)
        starts = {
            m["conversationId"]: max(
                int(cursors.get(m["conversationId"], 0)), int(m.get("joinedSeq", 1)) - 1
            )
            for m in memberships
        }
        conversation_ids = sorted(starts)
        fresh, owns, has_more = self._read_pages(conversation_ids, starts, limit, budget)
        # Where the page reaches the newest message, that message gives lastSeq and `own`;
        # where it does not, the newest is read (strongly consistent) for both.
        newest = {cid: Newest(page[-1]["seq"], owns[cid]) for cid, page in fresh.items()}
        more_ids = [cid for cid, more in has_more.items() if more]
        if more_ids:
            newest.update(self.messages.newest_many(more_ids))
        read = self.members.read_seqs(user_id, list(fresh)) if fresh else {}

        # The empty reply, sized with the longer literal (`false`).
        used = json_size(frames.sync([], False, request_id))
        chosen: list[SyncEntry] = []
        complete = True
        # Oldest cursors first, so a long backlog cannot starve the others across rounds.
        for cid in sorted(fresh, key=lambda c: (starts[c], c)):
            page = fresh[cid]
            last_seq, own = newest[cid].seq, newest[cid].own
            entry: SyncEntry = {
                "conversationId": cid,
                "type": ids.conversation_type(cid),
                "lastSeq": last_seq,
                "readSeq": min(observed_read_seq(int(read.get(cid, 0)), own, user_id), last_seq),
                "messages": [],
                "hasMore": has_more[cid],
            }
            entry_size = json_size(entry) + 1  # the comma between conversations
            if used + entry_size >= budget:
                complete = False
                continue
            used += entry_size
            for message in page:
                message_size = json_size(message) + 1
                if used + message_size >= budget:
                    entry["hasMore"] = True
                    break
                entry["messages"].append(message)
                used += message_size
            if not entry["messages"]:
                used -= entry_size
                complete = False
                continue
            if entry["hasMore"]:
                complete = False
            chosen.append(entry)
        return SyncResult(chosen, complete)
