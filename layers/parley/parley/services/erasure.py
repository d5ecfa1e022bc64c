"""Erasure (protocol 9.2): a deleted `file` message's object and record are removed.

The delete of a `file` message first schedules the erasure on the erasure queue, then
commits one transaction that marks the message deleted and the attachment record `erased`
(name and content type removed). The queue delivers the erasure after a delay longer than
a send can last, so the erase function finds one of three records
(docs/architecture.md, "Erasure"):

* `erased`: the delete committed. The object goes first, then the record, on condition it
  is still `erased`: a crash between the two leaves the record, and the redelivered
  erasure deletes the (already missing) object again and then the record.
* `pending` or `used`: the delete never committed (refused, lost its race, or crashed
  before its transaction). Nothing to do: the file is still a message's.
* absent: an earlier delivery finished (or the record expired unused). Nothing to do.

Every step is idempotent, so SQS's at-least-once delivery is harmless.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from parley.ports import Attachments, ObjectStore
from parley.services.attachments import object_key

__all__ = ["ErasureOutcome", "ErasureService"]


class ErasureOutcome(StrEnum):
    """What one erasure found and did."""

    ERASED = "erased"  # the object and the record are gone
    NOT_DELETED = "not_deleted"  # the record is pending or used: its delete never committed
    ABSENT = "absent"  # no record: an earlier delivery erased it


@dataclass(eq=False, kw_only=True)
class ErasureService:
    """Removes the object and the record of an erased attachment."""

    attachments: Attachments
    objects: ObjectStore

    def erase(self, attachment_id: str) -> ErasureOutcome:
        """Erase `attachment_id` if its delete committed (idempotent; AWS errors raise, so
        the queue redelivers and finally dead-letters the erasure)."""
        record = self.attachments.get(attachment_id)
        if record is None:
            return ErasureOutcome.ABSENT
        if record["state"] != "erased":
            return ErasureOutcome.NOT_DELETED
        # The object before the record: the record is what makes a redelivery try again.
        self.objects.delete(object_key(attachment_id))
        self.attachments.remove_erased(attachment_id)
        return ErasureOutcome.ERASED
