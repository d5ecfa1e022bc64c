"""`/attachments`: the upload form (`POST`) and the download link (`GET /{attachmentId}`).

No bytes pass through here: both answers are presigned requests to the attachment bucket
(protocol 9.3; docs/architecture.md, "Attachments").
"""

from __future__ import annotations

from typing import Any

from parley import runtime
from parley.models import AttachmentUploadBody, validate
from parley.observability import instrumented
from parley.web import HttpRequest, http_response, serve_http


def create(request: HttpRequest) -> dict[str, Any]:
    user = request.caller.user_id
    body = validate(AttachmentUploadBody, request.json())
    upload = runtime.attachment_service().create_upload(
        user, body.conversationId, body.name, body.size, body.contentType
    )
    return http_response(201, upload)


def show(request: HttpRequest) -> dict[str, Any]:
    user = request.caller.user_id
    found = runtime.attachment_service().download(user, request.path.get("attachmentId", ""))
    return http_response(200, found)


ROUTES = {
    "POST /attachments": create,
    "GET /attachments/{attachmentId}": show,
}


@instrumented()
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return serve_http(event, ROUTES)
