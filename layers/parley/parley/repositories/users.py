"""Users table: `pk` = userId, `sk` = `profile` or `block#<userId>` (the account lifecycle's
items, `left#` and `export#`, are in `parley.repositories.accounts`)."""

from __future__ import annotations

from typing import cast

from parley import ddb
from parley.errors import Conflict
from parley.records import Profile, User
from parley.repositories.base import Repository, batch_get, conditional, get_item, translate

PROFILE = "profile"
BLOCK = "block#"


class UsersRepository(Repository):
    """Profiles, password hashes, lastSeen and block lists."""

    def _put_new(self, item: User) -> bool:
        """Store a profile unless the userId has one; False when it had."""
        return conditional(
            self.client.put_item,
            TableName=self.table,
            Item=ddb.encode(item),
            ConditionExpression="attribute_not_exists(pk)",
        )

    def create(self, user_id: str, password_hash: str, display_name: str, now: int) -> None:
        """Store a new user; :class:`Conflict` when the id is taken."""
        item: User = {
            "pk": user_id,
            "sk": PROFILE,
            "passwordHash": password_hash,
            "displayName": display_name,
            "createdAt": now,
        }
        if not self._put_new(item):
            raise Conflict("userId is taken")

    def provision(self, user_id: str, display_name: str, identity_provider: str, now: int) -> User:
        """Create the profile of an externally authenticated user (no password hash, so no
        password login) unless one exists; the stored profile either way."""
        item: User = {
            "pk": user_id,
            "sk": PROFILE,
            "displayName": display_name,
            "identityProvider": identity_provider,
            "createdAt": now,
        }
        if self._put_new(item):
            return item
        existing = self.get(user_id)
        if existing is None:  # pragma: no cover - deleted between the two requests
            raise Conflict("userId is taken")
        return existing

    def replace_password_hash(self, user_id: str, old_hash: str, new_hash: str) -> bool:
        """Store `new_hash` if the stored hash is still `old_hash` (one conditional write: a
        concurrent change wins, never half of two); False otherwise."""
        return conditional(
            self.client.update_item,
            TableName=self.table,
            Key=ddb.key(pk=user_id, sk=PROFILE),
            UpdateExpression="SET passwordHash = :new",
            ConditionExpression="passwordHash = :old",
            ExpressionAttributeValues=ddb.encode({":new": new_hash, ":old": old_hash}),
        )

    def set_suspended(self, user_id: str, reason: str, now: int) -> bool:
        """Mark the profile suspended (protocol 12), with why and when; False for an
        unknown user (the condition keeps a typo from creating a profile)."""
        return conditional(
            self.client.update_item,
            TableName=self.table,
            Key=ddb.key(pk=user_id, sk=PROFILE),
            UpdateExpression="SET suspended = :at, suspendedReason = :why",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues=ddb.encode({":at": now, ":why": reason}),
        )

    def clear_suspended(self, user_id: str) -> bool:
        """Lift a suspension (idempotent); False for an unknown user."""
        return conditional(
            self.client.update_item,
            TableName=self.table,
            Key=ddb.key(pk=user_id, sk=PROFILE),
            UpdateExpression="REMOVE suspended, suspendedReason",
            ConditionExpression="attribute_exists(pk)",
        )

    def get(self, user_id: str) -> User | None:
        """The profile of `user_id`, or None."""
        key = ddb.key(pk=user_id, sk=PROFILE)
        return cast("User | None", get_item(self.client, self.table, key))

    def existing(self, user_ids: list[str]) -> set[str]:
        """The subset of `user_ids` that are registered users (a deleted account is not:
        protocol 12, its userId stays taken but names nobody)."""
        unique = sorted(set(user_ids))
        keys = [ddb.key(pk=u, sk=PROFILE) for u in unique]
        rows = batch_get(
            self.client, self.table, keys, sleep=self.sleep, ProjectionExpression="pk, deletedAt"
        )
        return {r["pk"] for r in ddb.decode_all(rows) if "deletedAt" not in r}

    def profiles(self, user_ids: list[str]) -> dict[str, Profile]:
        """Profiles (displayName, lastSeen) of the given users that exist (not deleted)."""
        keys = [ddb.key(pk=u, sk=PROFILE) for u in sorted(set(user_ids))]
        rows = batch_get(
            self.client,
            self.table,
            keys,
            sleep=self.sleep,
            ProjectionExpression="pk, displayName, lastSeen, deletedAt",
        )
        return {r["pk"]: cast(Profile, r) for r in ddb.decode_all(rows) if "deletedAt" not in r}

    def set_last_seen(self, user_id: str, ts: int) -> None:
        """Record when the user was last connected (kept when the last socket goes; an
        unknown user stays unknown, a deleted one keeps no trace)."""
        conditional(
            self.client.update_item,
            TableName=self.table,
            Key=ddb.key(pk=user_id, sk=PROFILE),
            UpdateExpression="SET lastSeen = :ts",
            ConditionExpression="attribute_exists(pk) AND attribute_not_exists(deletedAt)",
            ExpressionAttributeValues=ddb.encode({":ts": ts}),
        )

    def block(self, blocker: str, blocked: str, now: int) -> None:
        """Record that `blocker` blocks `blocked` (idempotent)."""
        with translate():
            self.client.put_item(
                TableName=self.table,
                Item=ddb.encode({"pk": blocker, "sk": BLOCK + blocked, "createdAt": now}),
            )

    def unblock(self, blocker: str, blocked: str) -> None:
        """Lift a block (idempotent)."""
        with translate():
            self.client.delete_item(
                TableName=self.table, Key=ddb.key(pk=blocker, sk=BLOCK + blocked)
            )

    def is_blocked(self, blocker: str, blocked: str) -> bool:
        """Whether `blocker` has blocked `blocked`."""
        key = ddb.key(pk=blocker, sk=BLOCK + blocked)
        return get_item(self.client, self.table, key, ProjectionExpression="pk") is not None

    def blockers_of(self, blocked: str, candidates: list[str]) -> set[str]:
        """Which of `candidates` have blocked `blocked`: one BatchGetItem per 100 (group
        adds and presence, protocol 13)."""
        keys = [ddb.key(pk=u, sk=BLOCK + blocked) for u in sorted(set(candidates))]
        rows = batch_get(self.client, self.table, keys, sleep=self.sleep, ProjectionExpression="pk")
        return {ddb.decode(r)["pk"] for r in rows}
