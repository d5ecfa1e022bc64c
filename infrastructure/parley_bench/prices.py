"""The one price table every cost figure uses: AWS list prices, us-east-1, dated.

Change a price here and every figure in `docs/benchmarks.md` follows on the next run.
Sources (public AWS pricing pages, read on the date below):

* Amazon API Gateway pricing, "WebSocket APIs": $1.00 per million messages for the first
  1 billion (messages are metered in 32 KB units) and $0.25 per million connection minutes.
* AWS Lambda pricing, Arm: $0.0000133334 per GB-second and $0.20 per million requests
  (duration billed in 1 ms increments).
* Amazon DynamoDB pricing, on-demand (after the November 2024 price cut): $0.625 per
  million write request units and $0.125 per million read request units.
* Amazon SQS pricing, standard queues: $0.40 per million requests (each 64 KB chunk of a
  payload is one request).
* AWS Secrets Manager pricing: $0.05 per 10,000 API calls.
"""

from __future__ import annotations

from dataclasses import dataclass

PRICES_DATE = "2024-11-14"
REGION = "us-east-1"
SOURCES = (
    "Amazon API Gateway pricing (WebSocket APIs)",
    "AWS Lambda pricing (Arm)",
    "Amazon DynamoDB pricing (on-demand, November 2024)",
    "Amazon SQS pricing (standard queues)",
    "AWS Secrets Manager pricing",
)


@dataclass(frozen=True)
class Prices:
    """US dollars per unit."""

    ws_message: float = 1.00 / 1e6  # per 32 KB message unit (first 1 billion per month)
    ws_connection_minute: float = 0.25 / 1e6
    lambda_gb_second: float = 0.0000133334  # arm64
    lambda_request: float = 0.20 / 1e6
    ddb_write_unit: float = 0.625 / 1e6  # on-demand write request unit (1 KB)
    ddb_read_unit: float = 0.125 / 1e6  # on-demand read request unit (4 KB strongly consistent)
    sqs_request: float = 0.40 / 1e6  # per 64 KB chunk
    secrets_call: float = 0.05 / 10_000


PRICES = Prices()

# Metering units.
WS_MESSAGE_BYTES = 32 * 1024
SQS_CHUNK_BYTES = 64 * 1024
DDB_WRITE_UNIT_BYTES = 1024
DDB_READ_UNIT_BYTES = 4096
