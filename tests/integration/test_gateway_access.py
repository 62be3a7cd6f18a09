"""The support gateway's doors: HTTPS only, logins, sessions, CSRF, brute force, and the audit
row that every attempt leaves. Real PostgreSQL; Zipkin is not needed here."""

from __future__ import annotations

import contextlib
import re
import ssl
import warnings
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from alexandrite.gateway.principal import ADMIN, SUPPORT
from alexandrite.gateway.server import tls_config
from tests.support.gateway import PASSWORD, GatewayUnderTest, running_gateway

pytestmark = pytest.mark.timeout(300)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def gateway() -> AsyncIterator[GatewayUnderTest]:
    async with running_gateway("access_test", max_failures_per_user=3) as running:
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
        value for name, value in response.headers.multi_items()
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
    [row] = await gateway.audit_rows(before)
    assert (row["action"], row["actor"], row["result"], row["status_code"]) == (
        "login", "ada", "failure", 403,
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
        assert (await client.get("/api/v1/orders/00000000-0000-0000-0000-000000000000/journey",
                                 headers={"accept": "application/json"})).status_code != 401
        before = await gateway.last_seq()
        response = await client.post("/auth/logout", data={"csrf_token": csrf.group(1)})
        assert response.status_code == 303
        after = await client.get("/zipkin/api/v2/services")
    assert after.status_code == 401
    logout, denied = await gateway.audit_rows(before)
    assert (logout["action"], logout["actor"], logout["result"]) == ("logout", "ada", "success")
    assert (denied["action"], denied["result"], denied["status_code"]) == (
        "zipkin.api", "denied", 401,
    )


async def test_failed_logins_are_limited_per_user_and_audited(
    gateway: GatewayUnderTest,
) -> None:
    await gateway.add_user("bob", SUPPORT)
    before = await gateway.last_seq()
    async with gateway.client() as client:
        statuses = [
            (await client.post("/auth/login", data={"username": "bob", "password": "guess" * 3}))
            .status_code
            for _ in range(3)
        ]
        # Now even the right password is refused until the window passes.
        limited = await client.post("/auth/login", data={"username": "bob", "password": PASSWORD})
        # Another user from the same address is not locked out by bob's failures.
        other = await client.post("/auth/login", data={"username": "ada", "password": PASSWORD})
    assert statuses == [401, 401, 401]
    assert limited.status_code == 429
    assert limited.headers["content-type"] == "application/problem+json"
    assert int(limited.headers["retry-after"]) > 0
    assert other.status_code == 303
    rows = await gateway.audit_rows(before)
    assert [(row["actor"], row["result"], row["status_code"]) for row in rows] == [
        ("bob", "failure", 401),
        ("bob", "failure", 401),
        ("bob", "failure", 401),
        ("bob", "rate_limited", 429),
        ("ada", "success", 303),
    ]
    assert rows[0]["detail"] == "wrong password"


async def test_failed_logins_are_limited_per_address(gateway: GatewayUnderTest) -> None:
    gateway_limits = gateway.settings.max_failures_per_address
    async with gateway.client() as client:
        for attempt in range(gateway_limits):
            response = await client.post(
                "/auth/login", data={"username": f"nobody{attempt}", "password": "x" * 12}
            )
            assert response.status_code in (401, 429)
        limited = await client.post("/auth/login", data={"username": "ada", "password": PASSWORD})
    assert limited.status_code == 429
    assert "address" in limited.json()["detail"]
    # Let the other tests of this module log in from 127.0.0.1 again.
    owner = await gateway.owner()
    try:
        await owner.execute("DELETE FROM login_failures")
    finally:
        await owner.close()


async def test_an_unknown_user_and_a_wrong_password_get_the_same_answer(
    gateway: GatewayUnderTest,
) -> None:
    async with gateway.client() as client:
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
