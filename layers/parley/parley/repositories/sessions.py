"""Sessions (logins) table: `sessionId` -> user, current refresh generation, revoked flag,
absolute end; the `byUser` index (keys only) finds every login of a user."""

from __future__ import annotations

from typing import cast

from parley import ddb
from parley.records import Session
from parley.repositories.base import Repository, conditional, get_item, query_all, translate


class SessionsRepository(Repository):
    """One item per login; refresh tokens are `sessionId.generation.mac` and are not stored."""

    def create(
        self, session_id: str, user_id: str, now: int, expires_at: int, ends_at: int = 0
    ) -> None:
        """Start a login at generation 1 (`ends_at`: its absolute end, 0 for none)."""
        item: Session = {
            "sessionId": session_id,
            "userId": user_id,
            "gen": 1,
            "revoked": False,
            "createdAt": now,
            "expiresAt": expires_at,
        }
        if ends_at:
            item["endsAt"] = ends_at
        with translate():
            self.client.put_item(
                TableName=self.table,
                Item=ddb.encode(item),
                ConditionExpression="attribute_not_exists(sessionId)",
            )

    def get(self, session_id: str) -> Session | None:
        """The session, or None."""
        key = ddb.key(sessionId=session_id)
        return cast("Session | None", get_item(self.client, self.table, key, ConsistentRead=True))

    def rotate(self, session_id: str, generation: int, now: int, expires_at: int) -> bool:
        """Advance the generation from `generation`; False when it was not current (reuse)."""
        return conditional(
            self.client.update_item,
            TableName=self.table,
            Key=ddb.key(sessionId=session_id),
            UpdateExpression="SET gen = :next, refreshedAt = :now, expiresAt = :exp",
            ConditionExpression="gen = :gen AND revoked = :false AND expiresAt > :now",
            ExpressionAttributeValues=ddb.encode(
                {
                    ":gen": generation,
                    ":next": generation + 1,
                    ":now": now,
                    ":exp": expires_at,
                    ":false": False,
                }
            ),
        )

    def revoke(self, session_id: str, now: int) -> None:
        """End the login: its refresh and access tokens are refused from now on (a login
        that does not exist stays absent)."""
        conditional(
            self.client.update_item,
            TableName=self.table,
            Key=ddb.key(sessionId=session_id),
            UpdateExpression="SET revoked = :true, revokedAt = :now",
            ConditionExpression="attribute_exists(sessionId)",
            ExpressionAttributeValues=ddb.encode({":true": True, ":now": now}),
        )

    def by_user(self, user_id: str) -> list[str]:
        """The ids of every login of `user_id` the `byUser` index holds (eventually
        consistent: a login started in the same instant may be missing)."""
        items = query_all(
            self.client,
            TableName=self.table,
            IndexName="byUser",
            KeyConditionExpression="userId = :u",
            ExpressionAttributeValues=ddb.encode({":u": user_id}),
            ProjectionExpression="sessionId",
        )
        return [str(ddb.decode(item)["sessionId"]) for item in items]
