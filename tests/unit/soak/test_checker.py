"""The soak's checker: each broken guarantee in a synthetic history is reported by name."""

from __future__ import annotations

from parley_soak.checker import Violation, check
from parley_soak.history import DeadLetter, History, Send, Stored
from parley_soak.run import message_named, profile_label

DM = "dm:alice:bob"
GROUP = "grp:01TESTGROUP"


def _sent(sender: str, conversation: str, cmid: str, seq: int | None, at: float = 1.0) -> Send:
    send = Send(sender, conversation, cmid, started=at, attempts=1)
    if seq is not None:
        send.acked_seq, send.acked_at = seq, at + 0.1
    return send


def _healthy() -> History:
    """Alice and Bob: two direct messages; a group of three with its creation message and
    one message of Carol's. Everything stored once, synced by everyone, mostly pushed."""
    history = History(
        members={DM: frozenset({"alice", "bob"}), GROUP: frozenset({"alice", "bob", "carol"})}
    )
    history.sends = [
        _sent("alice", DM, "m1", 1),
        _sent("bob", DM, "m2", 2),
        _sent("carol", GROUP, "m3", 2),
    ]
    dm_log = [Stored(DM, 1, "alice", "m1"), Stored(DM, 2, "bob", "m2")]
    group_log = [Stored(GROUP, 1, "alice", "sys-01X"), Stored(GROUP, 2, "carol", "m3")]
    history.final = {
        "alice": [*dm_log, *group_log],
        "bob": [*dm_log, *group_log],
        "carol": list(group_log),
    }
    history.live = {("bob", DM, 1): 1.2, ("alice", DM, 2): 1.2, ("alice", GROUP, 2): 1.3}
    return history


def _rules(violations: list[Violation]) -> list[str]:
    return [v.rule for v in violations]


def test_a_healthy_history_has_no_violation() -> None:
    # GIVEN a history where every guarantee holds
    # WHEN it is checked
    # THEN nothing is reported
    assert check(_healthy()) == []


def test_a_gap_is_reported_with_the_missing_seq() -> None:
    # GIVEN Bob's sync of the direct conversation lacks seq 1 (below the newest, 2)
    history = _healthy()
    history.final["bob"] = [
        m for m in history.final["bob"] if (m.conversation_id, m.seq) != (DM, 1)
    ]
    # WHEN it is checked
    violations = check(history)
    # THEN a gap in Bob's copy is named, seq 1
    gaps = [v for v in violations if v.rule == "gap"]
    assert len(gaps) == 1
    assert "bob" in gaps[0].detail and DM in gaps[0].detail and "lacks seq 1 " in gaps[0].detail


def test_a_missing_newest_seq_of_one_member_is_a_gap() -> None:
    # GIVEN Carol's sync stops at seq 1 while the others hold seq 2
    history = _healthy()
    history.final["carol"] = [Stored(GROUP, 1, "alice", "sys-01X")]
    # WHEN it is checked
    violations = check(history)
    # THEN it is a gap of Carol's (and Carol got message 2 neither live nor by sync)
    assert any(v.rule == "gap" and "carol" in v.detail for v in violations)
    assert any(v.rule == "undelivered" and "carol" in v.detail for v in violations)


def test_a_message_stored_twice_is_a_duplicate() -> None:
    # GIVEN Alice's message m1 stored again at seq 3 (a retry that was not deduplicated)
    history = _healthy()
    for user in ("alice", "bob"):
        history.final[user].append(Stored(DM, 3, "alice", "m1"))
    # WHEN it is checked
    violations = check(history)
    # THEN the duplicate names both seqs
    duplicates = [v for v in violations if v.rule == "duplicate"]
    assert len(duplicates) == 1
    assert "alice/m1" in duplicates[0].detail and "1, 3" in duplicates[0].detail


def test_a_repeated_seq_in_one_sync_is_reported() -> None:
    # GIVEN Bob's sync returned seq 2 of the direct conversation twice
    history = _healthy()
    history.final["bob"].append(Stored(DM, 2, "bob", "m2"))
    # WHEN it is checked
    # THEN that is a repeated seq, and nothing else
    assert _rules(check(history)) == ["repeated seq"]


def test_an_ack_at_another_seq_than_stored_is_a_wrong_seq() -> None:
    # GIVEN Bob's m2 acked at seq 5 but stored at seq 2
    history = _healthy()
    history.sends[1].acked_seq = 5
    # WHEN it is checked
    violations = check(history)
    # THEN it is a wrong seq, naming both
    assert _rules(violations) == ["wrong seq"]
    assert "acked at seq 5, stored at 2" in violations[0].detail


def test_an_acked_message_stored_nowhere_is_lost() -> None:
    # GIVEN Carol's m4, acked at seq 3, which no member's sync holds
    history = _healthy()
    history.sends.append(_sent("carol", GROUP, "m4", 3))
    # WHEN it is checked
    violations = check(history)
    # THEN it is lost
    assert _rules(violations) == ["lost"]
    assert "carol/m4" in violations[0].detail


def test_a_message_given_up_is_reported() -> None:
    # GIVEN a send the client stopped resending (never acked, never stored)
    history = _healthy()
    gave_up = _sent("bob", DM, "m9", None)
    gave_up.attempts, gave_up.given_up = 20, "no ack after 20 attempts (timeout)"
    history.sends.append(gave_up)
    # WHEN it is checked
    violations = check(history)
    # THEN it is given up, with the attempts
    assert _rules(violations) == ["given up"]
    assert "after 20 attempts" in violations[0].detail


def test_two_members_disagreeing_on_a_seq_is_inconsistent() -> None:
    # GIVEN Bob's copy of seq 1 is another message than Alice's
    history = _healthy()
    history.final["bob"][0] = Stored(DM, 1, "bob", "m7")
    # WHEN it is checked
    # THEN the two views disagree (and m7 was sent by no client)
    rules = _rules(check(history))
    assert "inconsistent" in rules


def test_a_stored_message_nobody_sent_is_unknown() -> None:
    # GIVEN a message of Alice's at seq 3 that no client sent
    history = _healthy()
    for user in ("alice", "bob"):
        history.final[user].append(Stored(DM, 3, "alice", "ghost"))
    # WHEN it is checked
    # THEN it is an unknown message
    assert _rules(check(history)) == ["unknown message"]


def test_an_unfinished_final_sync_is_reported() -> None:
    # GIVEN Carol's final sync could not finish
    history = _healthy()
    del history.final["carol"]
    history.final_incomplete.add("carol")
    # WHEN it is checked
    # THEN that is reported (her copies are not called undelivered: nothing is known)
    assert _rules(check(history)) == ["sync incomplete"]


def test_dead_letters_of_stored_messages_are_accounted_for() -> None:
    # GIVEN a push DLQ item naming a stored message, one naming none, one naming an unknown seq
    history = _healthy()
    history.dead_letters = [
        DeadLetter("push-dlq", "{}", (DM, 2)),
        DeadLetter("push-dlq", "not json", None),
        DeadLetter("push-dlq", "{}", (DM, 9)),
    ]
    # WHEN it is checked
    violations = check(history)
    # THEN the first is accounted for, the other two are reported
    assert _rules(violations) == ["dead letter", "dead letter"]
    assert "names no message" in violations[0].detail
    assert "seq 9" in violations[1].detail


def test_queue_bodies_name_their_message() -> None:
    # GIVEN a work item, a notify item, an older item with a frame, and junk
    # WHEN the message they name is read
    # THEN it is (conversationId, seq), or None
    work = (
        '{"kind":"connections","connectionIds":["c"],"message":{"conversationId":"dm:a:b","seq":4}}'
    )
    assert message_named(work) == ("dm:a:b", 4)
    assert message_named('{"conversationId":"grp:x","seq":2,"userIds":["u"]}') == ("grp:x", 2)
    assert message_named('{"kind":"users","frame":{"conversationId":"c","seq":1}}') == ("c", 1)
    assert message_named('{"message":{"conversationId":"c","seq":"1"}}') is None
    assert message_named("[1, 2]") is None
    assert message_named("{") is None


def test_profiles_are_named_by_name_or_file_stem() -> None:
    # GIVEN the profile of /_local/faults: a built-in, a file, none
    # WHEN it is labelled for the table
    # THEN a file shows its stem (no path of the machine), and no profile is "none"
    assert profile_label({"name": "all5", "seed": 5, "faults": []}) == "all5 (seed 5)"
    label = profile_label({"name": "/x/profiles/sqs-unavailable.json", "seed": 16})
    assert label == "sqs-unavailable (seed 16)"
    assert profile_label(None) == "none"
