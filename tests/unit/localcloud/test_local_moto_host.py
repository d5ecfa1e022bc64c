"""moto (no authentication) listens on loopback whatever address the gateways are given."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from parley_local import cloud as cloud_module
from parley_local.cloud import MOTO_HOST, LocalCloud

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "localcloud" / "template.yaml"


class _Launched(Exception):
    """Ends the start-up once moto's address is known: nothing past it is under test."""


@pytest.mark.parametrize("host", ["0.0.0.0", "127.0.0.1"])  # noqa: S104 - the LAN case
def test_moto_listens_on_loopback_whatever_the_gateways_listen_on(
    host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a local cloud asked to listen on `host` (0.0.0.0: every interface, for a LAN),
    # with a MotoServer that records where it is told to listen and stops the start-up there
    seen: dict[str, object] = {}
    local = LocalCloud(FIXTURE, host=host, log_stream=io.StringIO(), reload=False)

    class RecordingMoto:
        def __init__(self, moto_host: str = "127.0.0.1") -> None:
            seen["moto"] = moto_host
            seen["gateways"] = [sock.getsockname()[0] for sock in local._sockets]
            raise _Launched

    monkeypatch.setattr(cloud_module, "MotoServer", RecordingMoto)

    # WHEN it starts
    with pytest.raises(_Launched):
        local.start()

    # THEN the gateways listen where asked, and moto on loopback only
    assert seen["gateways"] == [host, host]
    assert seen["moto"] == MOTO_HOST == "127.0.0.1"
