"""AWS AppConfigData, emulated: the two calls Powertools' `AppConfigStore` makes.

moto emulates AppConfig (the control plane) but not AppConfigData, where functions read
their configuration from. This server, on 127.0.0.1 beside moto, answers with
AppConfigData's own wire shapes (REST-JSON, API version 2021-11-11), so that an unmodified
boto3 `appconfigdata` client (each worker's `AWS_ENDPOINT_URL_APPCONFIGDATA` points here)
and Powertools on top of it work as against AWS:

* `StartConfigurationSession`: `POST /configurationsessions` with `ApplicationIdentifier`,
  `EnvironmentIdentifier`, `ConfigurationProfileIdentifier` (name or id, as AWS accepts)
  and an optional `RequiredMinimumPollIntervalInSeconds`; `201 {"InitialConfigurationToken"}`.
  Identifiers the template does not define answer `404 ResourceNotFoundException` (a
  template with no AppConfig application serves any identifiers: there is nothing to
  check them against).
* `GetLatestConfiguration`: `GET /configuration?configuration_token=...`; `200` with the
  headers `Next-Poll-Configuration-Token`, `Next-Poll-Interval-In-Seconds` (the session's
  minimum, else 60 as AWS) and `Content-Type`, and the flags document as the body, or an
  *empty* body when the version the token was issued for is still the one served. A token
  this server never issued answers `400 BadRequestException` (`Reason: InvalidParameters`,
  problem `Corrupted`); one older than 24 hours, problem `Expired`.

Unlike AWS, a token stays usable after its first use, and polling faster than the
session's minimum interval is not refused.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from parley_local import ids
from parley_local.flags import FlagStore
from parley_local.logs import LogSink

SESSIONS_PATH = "/configurationsessions"
CONFIGURATION_PATH = "/configuration"
DEFAULT_POLL_INTERVAL_S = 60  # what AWS answers when the session asked for no minimum
TOKEN_LIFETIME_S = 24 * 3600
_IDENTIFIERS = (
    ("ApplicationIdentifier", "Application"),
    ("EnvironmentIdentifier", "Environment"),
    ("ConfigurationProfileIdentifier", "ConfigurationProfile"),
)


@dataclass(frozen=True)
class _Token:
    session: str
    version: int  # the version the holder has; 0 before its first configuration
    issued: float
    poll_interval: int


def error_response(
    status: int, error_type: str, body: dict[str, Any], request_id: str
) -> web.Response:
    """An AppConfigData error: REST-JSON, the type in `x-amzn-ErrorType` (botocore reads it)."""
    return web.Response(
        status=status,
        body=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            "x-amzn-ErrorType": error_type,
            "x-amzn-RequestId": request_id,
        },
    )


def bad_request(message: str, problems: dict[str, str], request_id: str) -> web.Response:
    """`400 BadRequestException` naming each invalid parameter's problem."""
    details = {name: {"Problem": problem} for name, problem in problems.items()}
    body: dict[str, Any] = {"Message": message, "Reason": "InvalidParameters"}
    if details:
        body["Details"] = {"InvalidParameters": details}
    return error_response(400, "BadRequestException", body, request_id)


class AppConfigDataServer:
    """Serves `store` to every session whose identifiers are in `known` (all of them when
    `known` is None)."""

    def __init__(
        self,
        store: FlagStore,
        sink: LogSink,
        known: tuple[set[str], set[str], set[str]] | None = None,
    ) -> None:
        self.store = store
        self.sink = sink
        self.known = known
        self._tokens: dict[str, _Token] = {}
        self._lock = threading.Lock()

    def app(self) -> web.Application:
        """The aiohttp application of the two calls."""
        app = web.Application()
        app.router.add_post(SESSIONS_PATH, self.start_session)
        app.router.add_get(CONFIGURATION_PATH, self.latest_configuration)
        return app

    def _issue(self, session: str, version: int, poll_interval: int) -> str:
        token = secrets.token_urlsafe(48)
        now = time.time()
        with self._lock:
            self._tokens = {  # tokens a day old are gone, as on AWS
                key: value
                for key, value in self._tokens.items()
                if now - value.issued < TOKEN_LIFETIME_S
            }
            self._tokens[token] = _Token(session, version, now, poll_interval)
        return token

    async def start_session(self, request: web.Request) -> web.Response:
        """`StartConfigurationSession`."""
        request_id = ids.request_id()
        try:
            payload = json.loads(await request.read() or b"{}")
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            return bad_request("The request body is not a JSON object.", {}, request_id)
        missing = {name: "Corrupted" for name, _ in _IDENTIFIERS if not payload.get(name)}
        if missing:
            return bad_request(f"Missing {', '.join(missing)}.", missing, request_id)
        for (name, resource_type), known in zip(_IDENTIFIERS, self.known or (), strict=False):
            value = str(payload[name])
            if value not in known:
                body = {
                    "Message": f"{resource_type} {value} was not found.",
                    "ResourceType": resource_type,
                    "ReferencedBy": {name: value},
                }
                return error_response(404, "ResourceNotFoundException", body, request_id)
        minimum = payload.get("RequiredMinimumPollIntervalInSeconds")
        poll_interval = int(minimum) if isinstance(minimum, int) else DEFAULT_POLL_INTERVAL_S
        session = "/".join(str(payload[name]) for name, _ in _IDENTIFIERS)
        token = self._issue(session, 0, poll_interval)
        self.sink.debug("flags", f"AppConfigData session started for {session}")
        return web.Response(
            status=201,
            body=json.dumps({"InitialConfigurationToken": token}).encode(),
            headers={"Content-Type": "application/json", "x-amzn-RequestId": request_id},
        )

    async def latest_configuration(self, request: web.Request) -> web.Response:
        """`GetLatestConfiguration`: the document if the token's version is not the
        current one, else an empty body."""
        request_id = ids.request_id()
        raw = request.query.get("configuration_token", "")
        with self._lock:
            token = self._tokens.get(raw)
        if token is None:
            return bad_request(
                "The configuration token is not valid.",
                {"ConfigurationToken": "Corrupted"},
                request_id,
            )
        if time.time() - token.issued >= TOKEN_LIFETIME_S:
            return bad_request(
                "The configuration token has expired.",
                {"ConfigurationToken": "Expired"},
                request_id,
            )
        current = self.store.current
        changed = current.number != token.version
        body = current.content if changed else b""
        if changed:
            self.sink.debug("flags", f"{token.session}: version {current.number} served")
        headers = {
            "Next-Poll-Configuration-Token": self._issue(
                token.session, current.number, token.poll_interval
            ),
            "Next-Poll-Interval-In-Seconds": str(token.poll_interval),
            "Content-Type": FlagStore.CONTENT_TYPE,
            "x-amzn-RequestId": request_id,
        }
        return web.Response(status=200, body=body, headers=headers)
