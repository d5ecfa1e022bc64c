"""The Python client's registration challenge (protocol 13): solved when the server asks
one, checked here by the server's own verifier."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import pytest
from parley import tokens
from parley_client import HttpClient, ParleyError
from parley_client.http_client import leading_zero_bits, solve_challenge

KEYS = tokens.Keys.from_secret("client-challenge-secret")


class Server:
    """Answers the two routes registration uses, like Parley with a challenge on (or off)."""

    def __init__(self, *, difficulty: int | None) -> None:
        self.difficulty = difficulty
        self.registered: list[dict[str, Any]] = []

    async def request(self, method: str, path: str, body: Any = None, **_: Any) -> Any:
        if (method, path) == ("GET", "/auth/challenge"):
            if self.difficulty is None:
                raise ParleyError(1002, "this server asks no registration challenge", 404)
            challenge = tokens.issue_challenge(KEYS, now=1000, ttl=300, difficulty=self.difficulty)
            return {"challenge": challenge, "difficulty": self.difficulty, "expiresIn": 300}
        assert (method, path) == ("POST", "/auth/register")
        if self.difficulty is not None:
            tokens.check_challenge(KEYS, body.get("challenge"), body.get("solution"), now=1000)
        self.registered.append(body)
        return {"userId": body["userId"]}


def client_of(server: Server, monkeypatch: pytest.MonkeyPatch) -> HttpClient:
    http = HttpClient("http://127.0.0.1:9/")
    monkeypatch.setattr(http, "request", server.request)
    return http


@pytest.mark.parametrize("difficulty", [1, 8, 14])
def test_register_solves_the_challenge_the_server_asks(
    monkeypatch: pytest.MonkeyPatch, difficulty: int
) -> None:
    # GIVEN a server asking a challenge
    server = Server(difficulty=difficulty)
    # WHEN the client registers
    reply = asyncio.run(client_of(server, monkeypatch).register("dave", "password123"))
    # THEN its solution passes the server's check
    assert reply == {"userId": "dave"}
    [body] = server.registered
    digest = hashlib.sha256((body["challenge"] + body["solution"]).encode()).digest()
    assert leading_zero_bits(digest) >= difficulty


def test_register_sends_no_challenge_when_the_server_asks_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = Server(difficulty=None)
    asyncio.run(client_of(server, monkeypatch).register("dave", "password123", "Dave"))
    assert server.registered == [
        {"userId": "dave", "password": "password123", "displayName": "Dave"}
    ]


@pytest.mark.parametrize(
    "issued", [{"challenge": 5, "difficulty": 8}, {"challenge": "c", "difficulty": 33}]
)
def test_a_malformed_or_unreasonable_challenge_is_refused(
    monkeypatch: pytest.MonkeyPatch, issued: dict[str, Any]
) -> None:
    http = HttpClient("http://127.0.0.1:9/")

    async def request(method: str, path: str, body: Any = None, **_: Any) -> Any:
        return issued

    monkeypatch.setattr(http, "request", request)
    with pytest.raises(ParleyError):
        asyncio.run(http.register("dave", "password123"))


def test_solve_challenge_matches_the_servers_solver() -> None:
    challenge = tokens.issue_challenge(KEYS, now=0, ttl=300, difficulty=10)
    assert solve_challenge(challenge, 10) == tokens.solve_challenge(challenge, 10)
