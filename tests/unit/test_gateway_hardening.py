"""The gateway's hardening pieces without servers: query-string secrets, the login backoff,
the audit anchor file."""

from __future__ import annotations

from pathlib import Path

import pytest

from alexandrite.common.query_secrets import redact_query, redact_url
from alexandrite.gateway.audit_anchor import Anchor, AnchorFile
from alexandrite.gateway.audit_log import printable
from alexandrite.gateway.login_limits import backoff_s


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("access_token=abc&limit=3", "access_token=[redacted]&limit=3"),
        ("Token=abc;serviceName=shop-api", "Token=[redacted];serviceName=shop-api"),
        ("refresh_token=a&db_password=b", "refresh_token=[redacted]&db_password=[redacted]"),
        ("ACCESS%5FTOKEN=abc", "ACCESS%5FTOKEN=[redacted]"),
        ("api-key=1&apikey=2&secret=3", "api-key=[redacted]&apikey=[redacted]&secret=[redacted]"),
        ("monkey=banana&keyboard=1&lookback=900000", "monkey=banana&keyboard=1&lookback=900000"),
        ("password=", "password="),
        ("annotationQuery=order.id%3Dabc", "annotationQuery=order.id%3Dabc"),
    ],
)
def test_secret_looking_query_parameters_are_masked_and_the_rest_kept(
    query: str, expected: str
) -> None:
    assert redact_query(query) == expected


def test_a_url_keeps_its_path_and_loses_its_fragment() -> None:
    assert redact_url("/a/b?token=x#frag") == "/a/b?token=[redacted]"
    assert redact_url("/a/b") == "/a/b"


def test_control_characters_are_written_out_so_postgresql_can_store_them() -> None:
    assert printable("ada\x00root\n") == "ada\\x00root\\x0a"
    assert printable("plain ü") == "plain ü"


def test_the_backoff_is_free_then_doubles_up_to_its_cap() -> None:
    waits = [backoff_s(failures, free=3, cap_s=300) for failures in range(14)]
    assert waits[:3] == [0, 0, 0]
    assert waits[3:9] == [1, 2, 4, 8, 16, 32]
    assert max(waits) == 300 and waits[-1] == 300
    assert backoff_s(10**6, free=3, cap_s=60) == 60


def test_the_anchor_file_keeps_the_first_hash_written_for_a_sequence_number(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit" / "anchors.jsonl"
    anchors = AnchorFile(path, every_rows=4)
    assert anchors.read() is None
    assert [seq for seq in range(1, 10) if anchors.due(seq)] == [4, 8]
    anchors.append(Anchor(4, "a" * 64))
    anchors.append(Anchor(4, "a" * 64))  # the same head twice: written once
    later = AnchorFile(path)  # another process, after the tail was cut and regrown
    later.append(Anchor(4, "b" * 64))
    with path.open("a") as handle:
        handle.write("not json\n")
    assert len(path.read_text().splitlines()) == 3
    assert anchors.read() == {4: "a" * 64}
    assert oct(path.stat().st_mode & 0o777) == "0o600"
