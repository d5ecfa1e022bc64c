"""Users table: `pk` = userId, `sk` = `profile` or `block#<userId>`."""

from __future__ import annotations

from typing import cast

from parley import ddb
from parley.errors import Conflict
from parley.records import Profile, User
from parley.repositories.base import Repository, batch_get, error_code, translate

PROFILE = "profile"
BLOCK = "block#"


class UsersRepository(Repository):
    """Profiles, password hashes, lastSeen and block lists."""

    def create(self, user_id: str, password_hash: str, display_name: str, now: int) -> None:
        """Store a new user; :class:`Conflict` when the id is taken."""
        from botocore.exceptions import ClientError

        item: User = {
            "pk": user_id,
            "sk": PROFILE,
            "passwordHash": password_hash,
            "displayName": display_name,
            "createdAt": now,
        }
        try:
            with translate():
                self.client.put_item(
                    TableName=self.table,
                    Item=ddb.encode(item),
                    ConditionExpression="attribute_not_exists(pk)",
                )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise Conflict("userId is taken") from None
            raise

    def provision(self, user_id: str, display_name: str, identity_provider: str, now: int) -> User:
        """Create the profile of an externally authenticated user (no password hash, so no
        password login) unless one exists; the stored profile either way."""
        from botocore.exceptions import ClientError

        item: User = {
            "pk": user_id,
            "sk": PROFILE,
            "displayName": display_name,
            "identityProvider": identity_provider,
            "createdAt": now,
        }
        try:
            with translate():
                self.client.put_item(
                    TableName=self.table,
                    Item=ddb.encode(item),
                    ConditionExpression="attribute_not_exists(pk)",
                )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            existing = self.get(user_id)
            if existing is None:  # pragma: no cover - deleted between the two requests
                raise
            return existing
        return item

    def get(self, user_id: str) -> User | None:
        """The profile of `user_id`, or None."""
        with translate():
            page = self.client.get_item(TableName=self.table, Key=ddb.key(pk=user_id, sk=PROFILE))
        item = page.get("Item")
        return cast(User, ddb.decode(item)) if item else None

    def existing(self, user_ids: list[str]) -> set[str]:
        """The subset of `user_ids` that are registered users."""
        unique = sorted(set(user_ids))
        keys = [ddb.key(pk=u, sk=PROFILE) for u in unique]
        rows = batch_get(self.client, self.table, keys, sleep=self.sleep, ProjectionExpression="pk")
        return {ddb.decode(r)["pk"] for r in rows}

    def profiles(self, user_ids: list[str]) -> dict[str, Profile]:
        """Profiles (displayName, lastSeen) of the given users that exist."""
        keys = [ddb.key(pk=u, sk=PROFILE) for u in sorted(set(user_ids))]
        rows = batch_get(
            self.client,
            self.table,
            keys,
            sleep=self.sleep,
            ProjectionExpression="pk, displayName, lastSeen",
        )
        return {r["pk"]: r for r in cast(list[Profile], ddb.decode_all(rows))}

    def set_last_seen(self, user_id: str, ts: int) -> None:
        """Record when the user was last connected (kept when the last socket goes)."""
        from botocore.exceptions import ClientError

        try:
            with translate():
                self.client.update_item(
                    TableName=self.table,
                    Key=ddb.key(pk=user_id, sk=PROFILE),
                    UpdateExpression="SET lastSeen = :ts",
                    ConditionExpression="attribute_exists(pk)",
                    ExpressionAttributeValues=ddb.encode({":ts": ts}),
                )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise

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
        with translate():
            page = self.client.get_item(
                TableName=self.table,
                Key=ddb.key(pk=blocker, sk=BLOCK + blocked),
                ProjectionExpression="pk",
            )
        return "Item" in page
