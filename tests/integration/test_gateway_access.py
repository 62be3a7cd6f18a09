"""The support gateway's doors: HTTPS only, logins, sessions, CSRF, brute force, and the audit
row that every attempt leaves. Real PostgreSQL; Zipkin is not needed here.

Other client addresses come from the rest of 127.0.0.0/8 (all loopback on Linux): a client
bound to 127.0.0.2 reaches the gateway on 127.0.0.1 and is seen as another address."""

from __future__ import annotations

import contextlib
import logging
import re
import ssl
import warnings
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from alexandrite.gateway.principal import ADMIN, SUPPORT
from alexandrite.gateway.server import tls_config
from tests.support.gateway import PASSWORD, GatewayUnderTest, running_gateway
from tests.support.polling import eventually

pytestmark = pytest.mark.timeout(300)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def gateway() -> AsyncIterator[GatewayUnderTest]:
    async with running_gateway(
        "access_test", login_free_failures_per_pair=3, login_free_failures_per_address=8
    ) as running:
        await running.add_user("ada", SUPPORT)
        await running.add_user("root", ADMIN)
        yield running


async def test_plain_http_is_refused(gateway: GatewayUnderTest) -> None:
    plain = gateway.url.replace("https://", "http://")
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.HTTPError):
            await client.get(f"{plain}/health", timeout=5)


async def test_tls_1_2_is_the_oldest_version_served(gateway: GatewayUnderTest) -> None:
    served = tls_config(FastAPI(), gateway.settings).ssl
    assert served is not None and served.minimum_version == ssl.TLSVersion.TLSv1_2
    tls12 = gateway.tls()
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    async with httpx.AsyncClient(verify=tls12) as client:
        assert (await client.get(f"{gateway.url}/health")).status_code == 200
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old = gateway.tls()
        old.minimum_version = ssl.TLSVersion.TLSv1
        old.maximum_version = ssl.TLSVersion.TLSv1_1
    with contextlib.suppress(ssl.SSLError):
        old.set_ciphers("ALL:@SECLEVEL=0")
    async with httpx.AsyncClient(verify=old) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"{gateway.url}/health", timeout=5)


async def test_every_response_carries_hsts_and_no_sniff(gateway: GatewayUnderTest) -> None:
    async with gateway.client() as client:
        response = await client.get("/auth/login")
    assert response.headers["strict-transport-security"].startswith("max-age=31536000")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert "script-src" not in response.headers["content-security-policy"]


async def test_the_session_cookie_is_secure_httponly_and_strict(
    gateway: GatewayUnderTest,
) -> None:
    async with gateway.client() as client:
        page = await client.get("/auth/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        response = await client.post(
            "/auth/login",
            data={"username": "ada", "password": PASSWORD, "csrf_token": token.group(1)},
        )
    assert response.status_code == 303
    cookie = next(
        value
        for name, value in response.headers.multi_items()
        if name == "set-cookie" and value.startswith("__Host-alexandrite-session=")
    ).lower()
    assert "secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    assert "path=/" in cookie and "domain" not in cookie


async def test_a_login_form_with_a_wrong_csrf_token_is_refused_and_audited(
    gateway: GatewayUnderTest,
) -> None:
    before = await gateway.last_seq()
    async with gateway.client() as client:
        await client.get("/auth/login")
        response = await client.post(
            "/auth/login",
            data={"username": "ada", "password": PASSWORD, "csrf_token": "forged"},
        )
    assert response.status_code == 403
    assert "__Host-alexandrite-session" not in response.headers.get("set-cookie", "")
    [row] = [row for row in await gateway.audit_rows(before) if row["action"] == "login"]
    assert (row["action"], row["actor"], row["result"], row["status_code"]) == (
        "login",
        "ada",
        "failure",
        403,
    )


async def test_a_cross_site_login_post_is_refused(gateway: GatewayUnderTest) -> None:
    async with gateway.client() as client:
        response = await client.post(
            "/auth/login",
            data={"username": "ada", "password": PASSWORD},
            headers={"origin": "https://evil.example"},
        )
    assert response.status_code == 403


async def test_logout_needs_the_session_csrf_token_and_ends_the_session(
    gateway: GatewayUnderTest,
) -> None:
    async with gateway.client() as client:
        await gateway.login(client, "ada")
        home = await client.get("/", headers={"accept": "text/html"})
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', home.text)
        assert csrf is not None
        refused = await client.post("/auth/logout", data={"csrf_token": "wrong"})
        assert refused.status_code == 403
        assert (
            await client.get(
                "/api/v1/orders/00000000-0000-0000-0000-000000000000/journey",
                headers={"accept": "application/json"},
            )
        ).status_code != 401
        before = await gateway.last_seq()
        response = await client.post("/auth/logout", data={"csrf_token": csrf.group(1)})
        assert response.status_code == 303
        after = await client.get("/zipkin/api/v2/services")
    assert after.status_code == 401
    logout, denied = await gateway.audit_rows(before)
    assert (logout["action"], logout["actor"], logout["result"]) == ("logout", "ada", "success")
    assert (denied["action"], denied["result"], denied["status_code"]) == (
        "zipkin.api",
        "denied",
        401,
    )


def _from(gateway: GatewayUnderTest, address: str) -> httpx.AsyncClient:
    """A client whose connections come from `address` (in 127.0.0.0/8)."""
    transport = httpx.AsyncHTTPTransport(verify=gateway.tls(), local_address=address)
    return httpx.AsyncClient(base_url=gateway.url, transport=transport, timeout=30)


async def _login(client: httpx.AsyncClient, name: str, password: str) -> httpx.Response:
    return await client.post("/auth/login", data={"username": name, "password": password})


async def test_failed_logins_back_off_per_user_and_address_and_are_audited(
    gateway: GatewayUnderTest,
) -> None:
    await gateway.add_user("bob", SUPPORT)
    before = await gateway.last_seq()
    async with _from(gateway, "127.0.0.5") as client:
        statuses = [(await _login(client, "bob", "guess" * 3)).status_code for _ in range(3)]
        # Past the free failures even the right password waits for the backoff to pass...
        limited = await _login(client, "bob", PASSWORD)
        # ...while another user from the same address is not held up by bob's failures.
        other = await _login(client, "ada", PASSWORD)

        # And the wait is seconds, not the window: bob gets in once it has passed.
        async def logged_in() -> bool:
            return (await _login(client, "bob", PASSWORD)).status_code == 303

        await eventually(logged_in, timeout=15, what="bob's backoff to pass")
    assert statuses == [401, 401, 401]
    assert limited.status_code == 429
    assert limited.headers["content-type"] == "application/problem+json"
    assert 0 < int(limited.headers["retry-after"]) <= 2
    assert other.status_code == 303
    rows = [row for row in await gateway.audit_rows(before) if row["actor"] in ("ada", "bob")]
    assert [(row["actor"], row["result"], row["status_code"]) for row in rows[:5]] == [
        ("bob", "failure", 401),
        ("bob", "failure", 401),
        ("bob", "failure", 401),
        ("bob", "rate_limited", 429),
        ("ada", "success", 303),
    ]
    assert rows[0]["detail"] == "wrong password" and rows[0]["client"] == "127.0.0.5"
    assert (rows[-1]["actor"], rows[-1]["result"]) == ("bob", "success")


async def test_wrong_passwords_from_another_address_do_not_lock_the_user_out(
    gateway: GatewayUnderTest,
) -> None:
    await gateway.add_user("carol", SUPPORT)
    async with _from(gateway, "127.0.0.6") as attacker:
        statuses = [(await _login(attacker, "carol", "guess" * 3)).status_code for _ in range(8)]
    # The attacker's own attempts are slowed down (the later ones are refused unchecked)...
    assert statuses[:3] == [401, 401, 401] and 429 in statuses[3:]
    # ...but carol, at her own address, logs in at once.
    async with _from(gateway, "127.0.0.7") as carol:
        assert (await _login(carol, "carol", PASSWORD)).status_code == 303


async def test_an_address_failing_for_many_users_is_slowed_not_locked(
    gateway: GatewayUnderTest,
) -> None:
    free = gateway.settings.login_free_failures_per_address
    async with _from(gateway, "127.0.0.8") as sprayer:
        for attempt in range(free):
            response = await _login(sprayer, f"nobody{attempt}", "x" * 12)
            assert response.status_code == 401
        limited = await _login(sprayer, "ada", PASSWORD)
        assert limited.status_code == 429
        assert "address" in limited.json()["detail"]
        assert int(limited.headers["retry-after"]) <= gateway.settings.login_address_delay_max_s

        # A colleague behind that address waits a moment, not the fifteen minutes of a lock.
        async def logged_in() -> bool:
            return (await _login(sprayer, "ada", PASSWORD)).status_code == 303

        await eventually(logged_in, timeout=15, what="the address's delay to pass")
    # Everybody else was never affected.
    async with _from(gateway, "127.0.0.9") as elsewhere:
        assert (await _login(elsewhere, "ada", PASSWORD)).status_code == 303


async def test_a_nul_byte_in_the_path_is_audited_and_answered_400(
    gateway: GatewayUnderTest,
) -> None:
    before = await gateway.last_seq()
    async with gateway.client() as client:
        in_path = await client.get("/zipkin/api/v2/services%00")
        in_query = await client.get("/zipkin/api/v2/traces?serviceName=shop%00")
    for response in (in_path, in_query):
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/problem+json"
    rows = await gateway.audit_rows(before)
    assert [(row["action"], row["result"], row["status_code"]) for row in rows] == [
        ("zipkin.api", "refused", 400),
        ("zipkin.api", "refused", 400),
    ]
    assert rows[0]["path"] == "/zipkin/api/v2/services\\x00"
    assert rows[1]["path"] == "/zipkin/api/v2/traces?serviceName=shop%00"


async def test_an_oversized_login_body_is_refused_413_unread_and_audited(
    gateway: GatewayUnderTest,
) -> None:
    before = await gateway.last_seq()
    huge = b"username=" + b"a" * (2 * 1024 * 1024)
    async with gateway.client() as client:
        response = await client.post(
            "/auth/login",
            content=huge,
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    rows = await gateway.audit_rows(before)
    assert [row["status_code"] for row in rows] == [413]


async def test_a_nul_byte_in_the_user_name_is_audited_and_answered_400(
    gateway: GatewayUnderTest,
) -> None:
    before = await gateway.last_seq()
    async with gateway.client() as client:
        response = await _login(client, "ada\x00root", PASSWORD)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    [row] = await gateway.audit_rows(before)
    assert (row["action"], row["actor"], row["result"], row["status_code"]) == (
        "login",
        "ada\\x00root",
        "refused",
        400,
    )


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def gateway_logs() -> Iterator[list[logging.LogRecord]]:
    handler = _Records()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler.records
    finally:
        root.removeHandler(handler)


async def test_a_token_in_the_query_string_is_redacted_in_the_audit_log_and_the_logs(
    gateway: GatewayUnderTest, gateway_logs: list[logging.LogRecord]
) -> None:
    token = await gateway.token("ada")
    before = await gateway.last_seq()
    async with gateway.client() as client:
        response = await client.get(
            "/zipkin/api/v2/services", params={"access_token": token, "limit": "3"}
        )
        await client.get("/api/v1/audit", params={"token": token, "password": "hunter2"})
        # Allowed through to Zipkin (reachable or not): the secret is not forwarded or logged.
        await client.get(
            "/zipkin/api/v2/services",
            params={"access_token": token},
            headers={"authorization": f"Bearer {token}"},
        )
    assert response.status_code == 401  # a token is taken from the Authorization header only
    rows = await gateway.audit_rows(before)
    assert [row["path"] for row in rows] == [
        "/zipkin/api/v2/services?access_token=[redacted]&limit=3",
        "/api/v1/audit?token=[redacted]&password=[redacted]",
        "/zipkin/api/v2/services?access_token=[redacted]",
    ]
    assert rows[-1]["actor"] == "ada"
    logged: list[Any] = [
        (record.getMessage(), record.args, record.__dict__.get("audit"))
        for record in gateway_logs
        # This test's own client logs the URLs it asks for; the gateway's own logs count.
        if not (record.name == "httpx" and gateway.url in record.getMessage())
    ]
    assert any(entry[2] is not None for entry in logged), "the audit entries are logged"
    assert token not in repr(logged) and "hunter2" not in repr(logged)
    assert token not in repr(await gateway.audit_rows(0))


async def test_an_unknown_user_and_a_wrong_password_get_the_same_answer(
    gateway: GatewayUnderTest,
) -> None:
    async with _from(gateway, "127.0.0.10") as client:
        unknown = await client.post("/auth/login", data={"username": "zed", "password": "x" * 12})
        wrong = await client.post("/auth/login", data={"username": "root", "password": "x" * 12})
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json()["detail"] == wrong.json()["detail"]


async def test_a_browser_that_is_not_logged_in_gets_a_login_link(
    gateway: GatewayUnderTest,
) -> None:
    async with gateway.client() as client:
        response = await client.get("/zipkin/", headers={"accept": "text/html"})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("text/html")
    assert 'href="/auth/login?next=/zipkin/"' in response.text


async def test_an_admin_reads_the_audit_log_and_support_may_not(
    gateway: GatewayUnderTest,
) -> None:
    admin_token = await gateway.token("root")
    support_token = await gateway.token("ada")
    async with gateway.client() as client:
        admin = await client.get(
            "/api/v1/audit", params={"limit": 5}, headers={"authorization": f"Bearer {admin_token}"}
        )
        support = await client.get(
            "/api/v1/audit", headers={"authorization": f"Bearer {support_token}"}
        )
    assert admin.status_code == 200 and len(admin.json()) == 5
    assert support.status_code == 403
