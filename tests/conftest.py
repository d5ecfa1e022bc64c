"""Process-wide test settings: fake AWS credentials, no tracing, one region."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SECURITY_TOKEN="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_REGION="us-east-1",
    POWERTOOLS_TRACE_DISABLED="true",
    POWERTOOLS_SERVICE_NAME="parley",
    POWERTOOLS_METRICS_NAMESPACE="Parley",
    POWERTOOLS_DEV="false",
)
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_PROFILE", None)


class _CurrentStdout:
    """A stream that forwards to whatever `sys.stdout` is when written to."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@pytest.fixture(autouse=True)
def _logs_follow_stdout() -> Iterator[None]:
    """Powertools' log handler keeps the stream it found at import; make it write wherever
    `sys.stdout` points now, so `capsys` sees handler logs whatever ran before."""
    from parley.observability import logger

    handler = logger.registered_handler
    previous = handler.stream
    handler.stream = _CurrentStdout()  # type: ignore[assignment]
    yield
    handler.stream = previous
