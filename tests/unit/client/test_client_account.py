"""Account deletion and export (protocol 12) from the Python client and the CLI, against the
fake HTTP API."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import pytest
from parley_client import HttpClient, ParleyError
from parley_client.cli import main


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdin=io.StringIO(""), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_delete_account_refuses_a_wrong_password_then_deletes(http_server: Any) -> None:
    async def scenario() -> None:
        http = HttpClient(http_server.url)
        await http.login("alice", "password123")
        # WHEN the password is wrong THEN 1003 and the account stays
        with pytest.raises(ParleyError) as caught:
            await http.delete_account("not it")
        assert caught.value.code == 1003
        assert http_server.requests[-1][0:2] == ("DELETE", "/me")
        # WHEN it is right THEN the account goes and the login with it
        await http.delete_account("password123")
        with pytest.raises(ParleyError) as caught:
            await HttpClient(http_server.url).login("alice", "password123")
        assert caught.value.code == 1003

    asyncio.run(scenario())


def test_download_export_waits_until_ready(http_server: Any, tmp_path: Path) -> None:
    async def scenario() -> None:
        http = HttpClient(http_server.url)
        await http.login("alice", "password123")
        # GIVEN an export asked for
        export_id = await http.request_export()
        # WHEN it is downloaded into a directory (pending at first)
        path = await http.download_export(export_id, tmp_path, every=0.01)
        # THEN the JSON is saved under the export's name
        assert path == tmp_path / f"parley-export-{export_id}.json"
        assert set(json.loads(path.read_text())) == {
            "profile",
            "conversations",
            "messages",
            "devices",
            "blocks",
        }
        # AND an unknown export is 1002
        with pytest.raises(ParleyError) as caught:
            await http.export("exp-unknown")
        assert caught.value.code == 1002

    asyncio.run(scenario())


def test_cli_export_and_delete_account(http_server: Any, config_dir: Path, tmp_path: Path) -> None:
    p = ["--http", http_server.url, "--profile", "al"]
    assert cli(*p, "login", "alice", "--password", "password123")[0] == 0
    # WHEN the export is asked for THEN it is saved where -o says
    code, out, _ = cli(*p, "export", "-o", str(tmp_path / "mine.json"))
    assert code == 0 and out.startswith(f"saved {tmp_path / 'mine.json'}")
    # WHEN the account is deleted with the wrong password THEN it fails, nothing forgotten
    code, _, err = cli(*p, "delete-account", "--password", "wrong")
    assert code != 0 and "1003" in err
    # WHEN with the right one THEN it is gone and the profile's login forgotten
    code, out, _ = cli(*p, "delete-account", "--password", "password123")
    assert code == 0 and "Deleted the account alice" in out
    assert cli(*p, "whoami")[0] != 0
