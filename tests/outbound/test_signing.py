"""Standard Webhooks signatures: the specification's published vector, and secrets."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from guard.outbound.signing import BadSecret, new_secret, secret_bytes, signature, signed_headers

# The reference libraries' test vector (standard-webhooks, libraries/*/tests: "test_sign_function").
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_published_vector_signs_alike():
    assert signature(secret_bytes(VECTOR_SECRET), VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY) == VECTOR_SIGNATURE


def test_headers_carry_id_whole_second_timestamp_and_signature():
    at = datetime.fromtimestamp(VECTOR_TIMESTAMP + 0.75, UTC)
    headers = signed_headers(secret_bytes(VECTOR_SECRET), VECTOR_ID, at, VECTOR_BODY)
    assert headers["webhook-id"] == VECTOR_ID
    assert headers["webhook-timestamp"] == str(VECTOR_TIMESTAMP)
    assert headers["webhook-signature"] == VECTOR_SIGNATURE


def test_a_changed_body_or_id_changes_the_signature():
    key = secret_bytes(VECTOR_SECRET)
    assert signature(key, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY + b" ") != VECTOR_SIGNATURE
    assert signature(key, VECTOR_ID + "x", VECTOR_TIMESTAMP, VECTOR_BODY) != VECTOR_SIGNATURE


def test_generated_secrets_are_whsec_with_32_random_bytes():
    one, two = new_secret(), new_secret()
    assert one.startswith("whsec_") and one != two
    assert len(secret_bytes(one)) == 32 == len(base64.b64decode(one[6:]))


@pytest.mark.parametrize("secret", ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not base64!", "whsec_c2hvcnQ=",
                                    "whsec_" + base64.b64encode(b"x" * 65).decode()])
def test_secrets_that_are_not_standard_are_refused(secret: str):
    with pytest.raises(BadSecret):
        secret_bytes(secret)
