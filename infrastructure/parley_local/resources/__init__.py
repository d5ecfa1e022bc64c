"""The builders of the template's resources, one module per resource family.

Importing this package registers every builder in `registry`. The imports below are in the
order assemblers of one phase run (so the start-up warnings keep their order). A new
resource family is a new module, imported here.
"""

# isort: off
from parley_local.resources import registry
from parley_local.resources import functions  # noqa: F401  (imported to register builders)
from parley_local.resources import dynamodb  # noqa: F401
from parley_local.resources import sqs  # noqa: F401
from parley_local.resources import secretsmanager  # noqa: F401
from parley_local.resources import s3  # noqa: F401
from parley_local.resources import ssm  # noqa: F401
from parley_local.resources import appconfig  # noqa: F401
from parley_local.resources import apigateway  # noqa: F401
from parley_local.resources import websocket_api  # noqa: F401
from parley_local.resources import http_api  # noqa: F401

# isort: on

__all__ = ["registry"]
