"""The 32 KB frame limit, enforced on raw WebSocket bytes."""

from __future__ import annotations

import os
import struct

from hypothesis import given, settings
from hypothesis import strategies as st
from parley_local.frames import FRAME_LIMIT, MESSAGE_LIMIT, FrameSizeGuard


def frame(payload: bytes, opcode: int = 0x1, fin: bool = True, mask: bool = True) -> bytes:
    """A client frame as RFC 6455 encodes it."""
    head = bytes([(0x80 if fin else 0) | opcode])
    length = len(payload)
    mask_bit = 0x80 if mask else 0
    if length < 126:
        head += bytes([mask_bit | length])
    elif length < 65536:
        head += bytes([mask_bit | 126]) + struct.pack("!H", length)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", length)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def feed_all(guard: FrameSizeGuard, data: bytes, chunk: int) -> tuple[bytes, int]:
    out, violations = b"", 0
    for i in range(0, len(data), chunk):
        forwarded, violated = guard.feed(data[i : i + chunk])
        out += forwarded
        violations += violated
    return out, violations


def test_small_frames_pass_through_unchanged_whatever_the_chunking() -> None:
    # GIVEN frames of each length encoding (7-bit, 16-bit, 64-bit lengths)
    data = frame(b"hi") + frame(b"x" * 200) + frame(b"y" * FRAME_LIMIT) + frame(b"", opcode=0x9)
    for chunk in (1, 3, 7, 1000, len(data)):
        # WHEN they arrive in chunks of any size
        out, violations = feed_all(FrameSizeGuard(), data, chunk)
        # THEN every byte is passed on, in order, and nothing is flagged
        assert out == data
        assert violations == 0


def test_an_oversized_data_frame_is_swallowed_and_reported() -> None:
    # GIVEN a small frame, a frame one byte over the limit, then a close frame
    small, big, close = frame(b"ok"), frame(b"z" * (FRAME_LIMIT + 1)), frame(b"\x03\xe8", 0x8)
    guard = FrameSizeGuard()
    # WHEN they arrive byte by byte
    out, violations = feed_all(guard, small + big + close, 1)
    # THEN only the oversized frame is dropped, and it is reported once
    assert out == small + close
    assert violations == 1
    assert guard.largest_frame == FRAME_LIMIT + 1


def test_each_fragment_is_measured_on_its_own() -> None:
    # GIVEN a 96 KB message sent as three 32 KB fragments
    part = b"a" * FRAME_LIMIT
    data = frame(part, 0x1, fin=False) + frame(part, 0x0, fin=False) + frame(part, 0x0)
    # THEN it passes: the limit is per frame, the 128 KB message limit is elsewhere
    out, violations = feed_all(FrameSizeGuard(), data, 4096)
    assert out == data
    assert violations == 0


def test_a_64_bit_length_frame_over_the_limit_is_caught() -> None:
    data = frame(b"q" * 70000, opcode=0x2)
    out, violations = feed_all(FrameSizeGuard(), data, 512)
    assert out == b""
    assert violations == 1


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=FRAME_LIMIT + 40), min_size=1, max_size=6),
    chunk=st.integers(min_value=1, max_value=9000),
)
def test_property_output_is_exactly_the_frames_within_the_limit(
    sizes: list[int], chunk: int
) -> None:
    # GIVEN any sequence of frames, split anywhere
    frames = [frame(bytes([65 + i % 26]) * n, opcode=0x2) for i, n in enumerate(sizes)]
    out, violations = feed_all(FrameSizeGuard(), b"".join(frames), chunk)
    # THEN the output is the frames within the limit, and each big one is counted
    assert out == b"".join(f for f, n in zip(frames, sizes, strict=True) if n <= FRAME_LIMIT)
    assert violations == sum(1 for n in sizes if n > FRAME_LIMIT)


def test_a_fragmented_message_over_128_kb_is_cut_at_the_frame_that_crosses() -> None:
    # GIVEN a message of five 30 KB fragments (150 KB), then a ping
    part = b"m" * 30_000
    frames = [frame(part, 0x1, fin=False)] + [frame(part, 0x0, fin=False) for _ in range(3)]
    frames.append(frame(part, 0x0, fin=True))
    ping = frame(b"", opcode=0x9)
    guard = FrameSizeGuard()
    out, violations = feed_all(guard, b"".join(frames) + ping, 5000)
    # THEN the first four (120 KB) pass, the fifth and anything left of the message do not
    assert out == b"".join(frames[:4]) + ping
    assert violations == 1


def test_a_message_of_exactly_128_kb_passes() -> None:
    part = b"e" * (MESSAGE_LIMIT // 4)
    frames = [frame(part, 0x2, fin=False), frame(part, 0x0, fin=False)]
    frames += [frame(part, 0x0, fin=False), frame(part, 0x0, fin=True)]
    # AND the next message starts counting from zero
    data = b"".join(frames) + frame(b"next", 0x1)
    out, violations = feed_all(FrameSizeGuard(), data, 7000)
    assert out == data
    assert violations == 0
