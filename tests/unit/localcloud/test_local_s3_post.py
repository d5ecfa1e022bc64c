"""The local cloud's S3 form-upload checks (`parley_local.s3_post`): what S3 refuses, with
S3's codes, for forms boto3 presigns with Signature Version 4."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config
from parley_local.aws import SECRET_KEY
from parley_local.s3_post import PostRefused, check_form

BUCKET = "attachments-bucket"


def form(size: int = 5, content_type: str = "text/plain", expires: int = 900) -> dict[str, str]:
    s3 = boto3.session.Session().client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key=SECRET_KEY,
        endpoint_url="http://127.0.0.1:1",
        config=Config(signature_version="s3v4"),
    )
    post = s3.generate_presigned_post(
        BUCKET,
        "a/x",
        Fields={"Content-Type": content_type},
        Conditions=[["content-length-range", size, size], {"Content-Type": content_type}],
        ExpiresIn=expires,
    )
    return dict(post["fields"])


def refused(fields: dict[str, str], size: int = 5, **kwargs: Any) -> PostRefused:
    now = kwargs.get("now") or datetime.now(UTC)
    with pytest.raises(PostRefused) as caught:
        check_form(fields, size, kwargs.get("bucket", BUCKET), SECRET_KEY, now)
    return caught.value


def test_a_form_used_as_signed_is_admitted() -> None:
    check_form(form(), 5, BUCKET, SECRET_KEY, datetime.now(UTC))


@pytest.mark.parametrize(("size", "code"), [(6, "EntityTooLarge"), (4, "EntityTooSmall")])
def test_another_size_is_refused_with_s3s_code(size: int, code: str) -> None:
    error = refused(form(), size)
    assert (error.status, error.code) == (400, code)


def test_another_content_type_is_access_denied() -> None:
    error = refused({**form(), "Content-Type": "text/html"})
    assert (error.status, error.code) == (403, "AccessDenied")
    assert b"<Code>AccessDenied</Code>" in error.xml()


def test_another_key_or_bucket_is_access_denied() -> None:
    assert refused({**form(), "key": "a/other"}).code == "AccessDenied"
    assert refused(form(), bucket="another-bucket").code == "AccessDenied"


def test_an_expired_form_is_access_denied() -> None:
    fields = form(expires=60)
    error = refused(fields, now=datetime.now(UTC) + timedelta(seconds=120))
    assert error.code == "AccessDenied" and "expired" in error.message


def test_a_field_no_condition_names_is_refused() -> None:
    assert refused({**form(), "acl": "public-read"}).code == "AccessDenied"


def test_a_changed_policy_or_signature_does_not_match() -> None:
    fields = form()
    policy = json.loads(base64.b64decode(fields["policy"]))
    policy["conditions"][0] = ["content-length-range", 0, 10**9]
    forged = base64.b64encode(json.dumps(policy).encode()).decode()
    assert refused({**fields, "policy": forged}).code == "SignatureDoesNotMatch"
    assert refused({**fields, "x-amz-signature": "0" * 64}).code == "SignatureDoesNotMatch"


def test_only_signature_version_4_forms_are_emulated() -> None:
    fields = {k: v for k, v in form().items() if k != "x-amz-algorithm"}
    assert refused(fields).status == 400
