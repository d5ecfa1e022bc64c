"""The benchmarks' in-memory data layer: calls priced as the real repositories' items."""

from __future__ import annotations

from parley.records import Message
from parley.repositories.messages import encode_message
from parley_bench.capacity import item_size, read_units
from parley_bench.memory import Latency, memory
from parley_bench.meter import AwsMeter

MESSAGE: Message = {
    "conversationId": "grp:01ARZ3NDEKTSV4RRFFQ69G5FAV",
    "seq": 1,
    "messageId": "01ARZ3NDEKTSV4RRFFQ69G5FAV",
    "senderId": "alice",
    "clientMsgId": "c-1",
    "body": {"type": "text", "text": "x" * 2000},
    "ts": 1,
}


def test_calls_are_metered_only_while_recording() -> None:
    # GIVEN the in-memory layer without latency, reporting to a meter
    meter = AwsMeter()
    repos = memory(Latency(0, 0, 0), meter)
    repos.messages.put_if_absent(MESSAGE)
    assert meter.calls == []
    # WHEN a message is put again, read back by its clientMsgId and posted while recording
    with meter.recording("bench") as calls:
        repos.messages.put_if_absent(MESSAGE)
        repos.messages.find_by_client_id(MESSAGE["conversationId"], "alice", "c-1")
        repos.gateway.post("c1", b'{"type":"message"}')
    # THEN each is a Call named as boto3 names it, with units from the stored item's size
    put, query, post = calls
    size = item_size(encode_message(MESSAGE))
    assert (put.name, put.table, put.units.write) == ("dynamodb.PutItem", "MessagesTable", 3)
    assert (query.name, query.params["IndexName"]) == ("dynamodb.Query", "byClientMsgId")
    assert query.units.read == read_units(size, consistent=True)
    assert post.name == "apigatewaymanagementapi.PostToConnection"
    assert post.params["Data"] == b'{"type":"message"}'
    assert all(c.label == "bench" for c in calls)
