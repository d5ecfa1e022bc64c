"""The attachment resources of template.yaml (protocol 9.3): the bucket's protections and
lifecycle, the table, and the IAM grants that presigned requests use.

Presigning makes no AWS call (the SDK signs locally with the role's credentials), so the
IAM call audit never sees the PutObject of a form upload or the GetObject of a download
link: this module asserts those grants on the template instead.
"""

from __future__ import annotations

from typing import Any

from tests.integration.test_template import source
from tests.support.iam_policy import listed

PREFIX = {"Fn::Sub": "${AttachmentsBucket.Arn}/a/*"}


def resource(name: str) -> dict[str, Any]:
    return dict(source()["Resources"][name])


def grants(function: str) -> list[dict[str, Any]]:
    """The plain (unconditional) statements of a function's inline policy."""
    policies = resource(function)["Properties"]["Policies"]
    return [
        s
        for policy in policies
        for s in policy["Statement"]
        if isinstance(s, dict) and "Effect" in s
    ]


def actions_on(function: str, target: Any) -> set[str]:
    return {
        action
        for s in grants(function)
        if s["Effect"] == "Allow" and target in listed(s["Resource"])
        for action in listed(s["Action"])
    }


def test_presigned_requests_are_granted_on_the_attachment_prefix_only() -> None:
    # GIVEN the attachments function, which signs the upload forms and download links
    # THEN its role may put (with the pending tag) and get objects under a/ only
    assert actions_on("AttachmentsFunction", PREFIX) == {
        "s3:PutObject",
        "s3:PutObjectTagging",
        "s3:GetObject",
    }
    # AND nothing of S3 on any other resource, and no s3:* wildcard anywhere
    for function in ("AttachmentsFunction", "SendFunction"):
        for s in grants(function):
            s3 = [a for a in listed(s["Action"]) if a.startswith("s3:")]
            assert "s3:*" not in s3
            if s3:
                assert listed(s["Resource"]) == [PREFIX], (function, s)


def test_send_may_head_the_object_lift_its_tag_and_claim_the_record() -> None:
    assert actions_on("SendFunction", PREFIX) == {"s3:GetObject", "s3:DeleteObjectTagging"}
    table = {"Fn::GetAtt": ["AttachmentsTable", "Arn"]}
    assert actions_on("SendFunction", table) == {"dynamodb:GetItem", "dynamodb:UpdateItem"}
    assert actions_on("AttachmentsFunction", table) == {"dynamodb:GetItem", "dynamodb:PutItem"}


def test_the_bucket_is_private_encrypted_and_tls_only() -> None:
    props = resource("AttachmentsBucket")["Properties"]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    [rule] = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert rule["BucketKeyEnabled"] is True
    assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert "VersioningConfiguration" not in props
    [deny] = resource("AttachmentsBucketPolicy")["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}
    }


def test_pending_uploads_and_incomplete_multiparts_expire_after_a_day() -> None:
    rules = {
        r["Id"]: r
        for r in resource("AttachmentsBucket")["Properties"]["LifecycleConfiguration"]["Rules"]
    }
    pending = rules["expire-pending"]
    assert pending["TagFilters"] == [{"Key": "parley-state", "Value": "pending"}]
    assert pending["ExpirationInDays"] == 1 and pending["Prefix"] == "a/"
    assert rules["abort-incomplete-multipart"]["AbortIncompleteMultipartUpload"] == {
        "DaysAfterInitiation": 1
    }


def test_the_tag_the_forms_set_is_the_one_the_lifecycle_expires() -> None:
    from parley.repositories.objects import PENDING_TAG

    [tag] = resource("AttachmentsBucket")["Properties"]["LifecycleConfiguration"]["Rules"][0][
        "TagFilters"
    ]
    assert (tag["Key"], tag["Value"]) == PENDING_TAG


def test_the_attachments_table_expires_pending_records() -> None:
    props = resource("AttachmentsTable")["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "attachmentId", "KeyType": "HASH"}]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_the_attachment_parameters_reach_the_functions() -> None:
    params = source()["Parameters"]
    assert params["MaxAttachmentBytes"]["Default"] == 26214400
    assert params["AllowedOrigins"]["Type"] == "CommaDelimitedList"
    env = resource("AttachmentsFunction")["Properties"]["Environment"]["Variables"]
    assert env["PARLEY_MAX_ATTACHMENT_BYTES"] == {"Ref": "MaxAttachmentBytes"}
