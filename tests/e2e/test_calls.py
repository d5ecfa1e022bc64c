"""End to end: calls signaled through Parley, with real WebRTC peers (aiortc).

Parley relays call signaling (`signal`: invite, ringing, accept, reject, offer, answer,
candidate, hangup) between live connections and stores nothing. The headline test places
a call between two `RTCPeerConnection`s whose only signaling channel is Parley's `signal`
action; the peers then talk to each other directly over a data channel.

ICE runs on loopback only, with no STUN or TURN server: aioice's host-address discovery
is pinned to 127.0.0.1, so the test neither depends on this machine's interfaces nor
touches the network, and the candidate pairs are the same on every run.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.sdp import candidate_from_sdp
from parley_client import ParleyClient, ParleyError
from parley_local import LocalCloud

from tests.e2e.helpers import (
    TIMEOUT,
    call_id,
    connect_all,
    dm,
    run,
    sign_up_all,
    stored_messages,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

#: Bound of the peer-to-peer part (ICE, DTLS, SCTP, the data channel).
WEBRTC_TIMEOUT = 30.0
GREETING = "hello over webrtc"
#: The browser convention for "no more candidates": an empty candidate string.
END_OF_CANDIDATES: dict[str, Any] = {"candidate": "", "sdpMid": "0", "sdpMLineIndex": 0}


@contextlib.contextmanager
def loopback_ice() -> Iterator[None]:
    """Make aioice gather host candidates on 127.0.0.1 only."""

    def loopback(use_ipv4: bool = True, use_ipv6: bool = True) -> list[str]:
        return ["127.0.0.1"]

    with mock.patch("aioice.ice.get_host_addresses", loopback):
        yield


def peer() -> RTCPeerConnection:
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


def split_candidates(sdp: str) -> tuple[str, list[dict[str, Any]]]:
    """The SDP without its candidates, and the candidates as `RTCIceCandidateInit`s.

    aiortc gathers every candidate before `setLocalDescription` returns and writes them
    into the SDP; taking them out and sending them as `candidate` signals is what a
    trickling client (a browser) does, and makes the call depend on that path.
    """
    lines: list[str] = []
    candidates: list[dict[str, Any]] = []
    mid: str | None = None
    index = -1
    for line in sdp.splitlines():
        if line.startswith("m="):
            index += 1
        elif line.startswith("a=mid:"):
            mid = line.removeprefix("a=mid:")
        if line.startswith("a=candidate:"):
            candidates.append({"candidate": line[2:], "sdpMid": mid, "sdpMLineIndex": index})
            continue
        if line.startswith("a=end-of-candidates"):
            continue
        lines.append(line)
    return "\r\n".join(lines) + "\r\n", candidates


async def send_candidates(
    client: ParleyClient, to: str, call: str, candidates: list[dict[str, Any]], connection: str
) -> None:
    """Each candidate as its own `signal`, then end-of-candidates; one after the other, so
    they arrive in this order (each is posted before its `ok` comes back)."""
    for candidate in [*candidates, END_OF_CANDIDATES]:
        await client.signal(to, call, "candidate", candidate, to_connection=connection)


async def apply_candidates(
    client: ParleyClient, pc: RTCPeerConnection, call: str
) -> list[dict[str, Any]]:
    """Add the remote candidates arriving as `candidate` signals, until end-of-candidates."""
    received: list[dict[str, Any]] = []
    while True:
        signal = await client.next_event("signal", callId=call, kind="candidate", timeout=TIMEOUT)
        payload = signal["payload"]
        if not payload.get("candidate"):
            await pc.addIceCandidate(None)
            return received
        candidate = candidate_from_sdp(payload["candidate"].removeprefix("candidate:"))
        candidate.sdpMid = payload["sdpMid"]
        candidate.sdpMLineIndex = payload["sdpMLineIndex"]
        await pc.addIceCandidate(candidate)
        received.append(payload)


def description(payload: dict[str, Any]) -> RTCSessionDescription:
    return RTCSessionDescription(sdp=payload["sdp"], type=payload["type"])


def ice_password(sdp: str) -> str:
    (password,) = {
        line.removeprefix("a=ice-pwd:")
        for line in sdp.splitlines()
        if line.startswith("a=ice-pwd:")
    }
    assert len(password) >= 22
    return password


def ice_transport(pc: RTCPeerConnection) -> Any:
    assert pc.sctp is not None
    return pc.sctp.transport.transport


def test_a_call_through_parley_connects_two_webrtc_peers(cloud: LocalCloud) -> None:
    async def scenario() -> None:
        alice, bob = await sign_up_all(cloud, "alice", "bob")
        stored_before = stored_messages(cloud)
        call = call_id()
        loop = asyncio.get_running_loop()
        alice_pc, bob_pc = peer(), peer()
        try:
            async with contextlib.AsyncExitStack() as stack:
                alice_phone, bob_phone = await connect_all(stack, alice.client(), bob.client())

                # GIVEN alice calls bob
                invited = await alice_phone.request(
                    {
                        "action": "signal",
                        "to": bob.user_id,
                        "callId": call,
                        "kind": "invite",
                        "payload": {"media": ["data"]},
                    }
                )
                assert invited["delivered"] == 1
                invite = await bob_phone.next_event(
                    "signal", callId=call, kind="invite", timeout=TIMEOUT
                )
                assert invite["from"] == alice.user_id
                assert invite["payload"] == {"media": ["data"]}
                alice_connection = invite["fromConnection"]

                # WHEN bob's device rings, then he accepts (answering the calling device)
                await bob_phone.signal(
                    alice.user_id, call, "ringing", to_connection=alice_connection
                )
                ringing = await alice_phone.next_event(
                    "signal", callId=call, kind="ringing", timeout=TIMEOUT
                )
                bob_connection = ringing["fromConnection"]
                assert ringing["from"] == bob.user_id
                await bob_phone.signal(
                    alice.user_id, call, "accept", to_connection=alice_connection
                )
                accepted = await alice_phone.next_event(
                    "signal", callId=call, kind="accept", timeout=TIMEOUT
                )
                assert accepted["fromConnection"] == bob_connection

                # AND the peers negotiate over Parley: bob answers the data channel...
                bob_heard: asyncio.Future[str] = loop.create_future()
                alice_heard: asyncio.Future[str] = loop.create_future()
                channel_open: asyncio.Future[None] = loop.create_future()

                @bob_pc.on("datachannel")
                def on_datachannel(channel: RTCDataChannel) -> None:
                    @channel.on("message")
                    def on_message(message: str) -> None:
                        if not bob_heard.done():
                            bob_heard.set_result(message)
                            channel.send(GREETING)

                channel = alice_pc.createDataChannel("chat")

                @channel.on("open")
                def on_open() -> None:
                    if not channel_open.done():
                        channel_open.set_result(None)

                @channel.on("message")
                def on_reply(message: str) -> None:
                    if not alice_heard.done():
                        alice_heard.set_result(message)

                # ... alice sends the offer, then her candidates one by one
                with loopback_ice():
                    await alice_pc.setLocalDescription(await alice_pc.createOffer())
                offer_sdp, alice_candidates = split_candidates(alice_pc.localDescription.sdp)
                assert alice_candidates, "aioice gathered no candidate on 127.0.0.1"
                offer = {"sdp": offer_sdp, "type": alice_pc.localDescription.type}
                await alice_phone.signal(bob.user_id, call, "offer", offer, bob_connection)
                await send_candidates(
                    alice_phone, bob.user_id, call, alice_candidates, bob_connection
                )

                # ... bob sets it, answers with his SDP and candidates
                got_offer = await bob_phone.next_event(
                    "signal", callId=call, kind="offer", timeout=TIMEOUT
                )
                assert got_offer["payload"] == offer
                await bob_pc.setRemoteDescription(description(got_offer["payload"]))
                with loopback_ice():
                    await bob_pc.setLocalDescription(await bob_pc.createAnswer())
                answer_sdp, bob_candidates = split_candidates(bob_pc.localDescription.sdp)
                answer = {"sdp": answer_sdp, "type": bob_pc.localDescription.type}
                await bob_phone.signal(alice.user_id, call, "answer", answer, alice_connection)
                await send_candidates(
                    bob_phone, alice.user_id, call, bob_candidates, alice_connection
                )
                assert await apply_candidates(bob_phone, bob_pc, call) == alice_candidates

                # ... and alice sets the answer and bob's candidates
                got_answer = await alice_phone.next_event(
                    "signal", callId=call, kind="answer", timeout=TIMEOUT
                )
                assert got_answer["payload"] == answer
                await alice_pc.setRemoteDescription(description(got_answer["payload"]))
                assert await apply_candidates(alice_phone, alice_pc, call) == bob_candidates

                # THEN the peers connect directly and talk over the data channel, both ways
                async with asyncio.timeout(WEBRTC_TIMEOUT):
                    await channel_open
                    channel.send(GREETING)
                    assert await bob_heard == GREETING
                    assert await alice_heard == GREETING
                assert alice_pc.connectionState == bob_pc.connectionState == "connected"
                # over the candidates that travelled as `candidate` signals
                remote = {(c.ip, c.port) for c in ice_transport(alice_pc).getRemoteCandidates()}
                sent = {
                    (c.ip, c.port)
                    for c in (
                        candidate_from_sdp(p["candidate"].removeprefix("candidate:"))
                        for p in bob_candidates
                    )
                }
                assert sent <= remote
                assert all(ip == "127.0.0.1" for ip, _ in sent)

                # WHEN alice hangs up
                await alice_phone.signal(bob.user_id, call, "hangup", {"reason": "bye"})

                # THEN bob is told, and both peers close
                hangup = await bob_phone.next_event(
                    "signal", callId=call, kind="hangup", timeout=TIMEOUT
                )
                assert (hangup["from"], hangup["payload"]) == (alice.user_id, {"reason": "bye"})
                await alice_pc.close()
                await bob_pc.close()
                assert alice_pc.connectionState == bob_pc.connectionState == "closed"
        finally:
            await alice_pc.close()
            await bob_pc.close()

        # AND Parley stored nothing: no message, no conversation between them
        assert stored_messages(cloud) == stored_before
        assert stored_messages(cloud, dm(alice.user_id, bob.user_id)) == 0
        assert await alice.http.conversations() == []
        assert await bob.http.conversations() == []
        # AND the SDPs (which carry addresses) stayed out of the logs
        secrets = [ice_password(offer["sdp"]), ice_password(answer["sdp"])]
        assert not [line for line in cloud.log_lines() for s in secrets if s in line]

    run(scenario())


def test_accepting_on_one_device_stops_the_others_ringing(cloud: LocalCloud) -> None:
    async def scenario() -> None:
        # GIVEN bob on two devices, recording every event they get
        alice, bob = await sign_up_all(cloud, "alice", "bob")
        stored_before = stored_messages(cloud)
        call = call_id()
        async with contextlib.AsyncExitStack() as stack:
            bob_phone = bob.client()
            bob_laptop = bob.client(await bob.another_login())
            seen: dict[str, list[dict[str, Any]]] = {"phone": [], "laptop": []}
            bob_phone.add_listener(seen["phone"].append)
            bob_laptop.add_listener(seen["laptop"].append)
            alice_phone, _, _ = await connect_all(stack, alice.client(), bob_phone, bob_laptop)

            # WHEN alice calls him
            invited = await alice_phone.request(
                {"action": "signal", "to": bob.user_id, "callId": call, "kind": "invite"}
            )

            # THEN both his devices ring
            assert invited["delivered"] == 2
            for device in (bob_phone, bob_laptop):
                invite = await device.next_event("signal", kind="invite", timeout=TIMEOUT)
                assert (invite["from"], invite["callId"]) == (alice.user_id, call)
            alice_connection = invite["fromConnection"]

            # WHEN he accepts on his phone
            await bob_phone.signal(alice.user_id, call, "accept", to_connection=alice_connection)

            # THEN alice gets the accept from the phone, and the laptop is told the call was
            # answered elsewhere
            accepted = await alice_phone.next_event("signal", kind="accept", timeout=TIMEOUT)
            phone_connection = accepted["fromConnection"]
            elsewhere = await bob_laptop.next_event("signal", kind="accept", timeout=TIMEOUT)
            assert elsewhere["from"] == bob.user_id
            assert elsewhere["callId"] == call
            assert elsewhere["payload"] == {"answeredElsewhere": True}
            assert elsewhere["fromConnection"] == phone_connection

            # WHEN alice sends the offer to that one device only
            offered = await alice_phone.request(
                {
                    "action": "signal",
                    "to": bob.user_id,
                    "callId": call,
                    "kind": "offer",
                    "payload": {"type": "offer", "sdp": "v=0\r\n"},
                    "toConnection": phone_connection,
                }
            )

            # THEN only the phone gets it
            assert offered["delivered"] == 1
            await bob_phone.next_event("signal", kind="offer", timeout=TIMEOUT)
            # (the hangup, sent to all his devices after the offer, proves the laptop's
            # queue is complete up to there)
            await alice_phone.signal(bob.user_id, call, "hangup")
            for device in (bob_phone, bob_laptop):
                await device.next_event("signal", kind="hangup", timeout=TIMEOUT)
            kinds = {name: [e.get("kind") for e in events] for name, events in seen.items()}
            assert kinds == {
                "phone": ["invite", "offer", "hangup"],
                "laptop": ["invite", "accept", "hangup"],
            }

            # AND a connection that is not one of bob's gets 1002
            with pytest.raises(ParleyError) as refused:
                await alice_phone.signal(
                    bob.user_id, call, "hangup", to_connection=alice_connection
                )
            assert refused.value.code == 1002

        assert stored_messages(cloud) == stored_before

    run(scenario())


def test_signal_refusals_and_offline_callees(cloud: LocalCloud) -> None:
    async def scenario() -> None:
        # GIVEN bob blocked alice; carol is offline
        alice, bob, carol = await sign_up_all(cloud, "alice", "bob", "carol")
        await bob.http.block(alice.user_id)
        stored_before = stored_messages(cloud)
        call = call_id()
        async with contextlib.AsyncExitStack() as stack:
            alice_phone, bob_phone = await connect_all(stack, alice.client(), bob.client())

            # WHEN alice calls bob THEN she gets 1004, like any forbidden action
            with pytest.raises(ParleyError) as blocked:
                await alice_phone.signal(bob.user_id, call, "invite")
            assert blocked.value.code == 1004

            # AND blocking is one-way: bob can still call alice
            reply = await bob_phone.request(
                {"action": "signal", "to": alice.user_id, "callId": call, "kind": "invite"}
            )
            assert reply["delivered"] == 1
            await alice_phone.next_event("signal", kind="invite", timeout=TIMEOUT)

            # AND calling someone who does not exist is 1002
            with pytest.raises(ParleyError) as unknown:
                await alice_phone.signal("no-such-user-" + call[:8], call, "invite")
            assert unknown.value.code == 1002

            # AND an offline callee is reported as not reached (ring them another way)
            offline = await alice_phone.request(
                {"action": "signal", "to": carol.user_id, "callId": call, "kind": "invite"}
            )
            assert offline["delivered"] == 0

            # AND malformed signals are refused with their codes
            bad_kind = {"action": "signal", "to": carol.user_id, "callId": call, "kind": "ring"}
            too_big = {
                "action": "signal",
                "to": carol.user_id,
                "callId": call,
                "kind": "offer",
                "payload": {"sdp": "a" * (25 * 1024)},
            }
            for frame, code in ((bad_kind, 1001), (too_big, 1006)):
                with pytest.raises(ParleyError) as refused:
                    await alice_phone.request(frame)
                assert refused.value.code == code

        # AND none of this wrote a message
        assert stored_messages(cloud) == stored_before

    run(scenario())
