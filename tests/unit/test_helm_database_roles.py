"""The chart's PostgreSQL credentials: one role per service, each owning only its database.

As locally (alexandrite.ops.postgres_roles): every service connects as alexandrite_<service>
with its own password, the gateway as its runtime role (never as its database's owner), the
migration Job as each database's owner, and the bundled PostgreSQL creates exactly these roles.
Rendered offline with `helm template` (tests/unit/test_helm_chart.py has the other checks).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from alexandrite.ops.helm_build import ensure_helm_binary
from alexandrite.ops.paths import Paths
from tests.unit.test_helm_chart import RELEASE, VALUE_SETS, Manifest, _find, _render


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[Manifest]]:
    helm: Path = ensure_helm_binary(Paths.from_env().ensure())
    return {name: _render(helm, VALUE_SETS[name]) for name in ("defaults", "external")}


def _env(workload: Manifest) -> dict[str, Any]:
    """Every container's environment of a workload, by variable name."""
    containers = workload["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("value", e.get("valueFrom")) for c in containers for e in c["env"]}


def _secret_keys(env: dict[str, Any]) -> set[str]:
    return {v["secretKeyRef"]["key"] for v in env.values() if isinstance(v, dict)}


def _url_user(url: str) -> str:
    return url.split("://", 1)[1].split(":", 1)[0]


@pytest.mark.parametrize("value_set", ["defaults", "external"])
def test_each_service_connects_as_its_own_database_role_with_only_that_roles_password(
    rendered: dict[str, list[Manifest]], value_set: str
) -> None:
    manifests = rendered[value_set]
    services = ("shop", "crm", "mes", "files", "notifier")
    for name in services:
        env = _env(_find(manifests, "Deployment", f"{RELEASE}-{name}"))
        assert _url_user(env[f"{name.upper()}_DATABASE_URL"]) == f"alexandrite_{name}"
        database_keys = {k for k in _secret_keys(env) if "database-password" in k}
        assert database_keys == {f"{name}-database-password"}, name
    gateway = _env(_find(manifests, "Deployment", f"{RELEASE}-gateway"))
    assert _url_user(gateway["GATEWAY_DATABASE_URL"]) == "alexandrite_gateway_app"
    assert {k for k in _secret_keys(gateway) if "database-password" in k} == {
        "gateway-database-password"
    }  # never the owner's: the audit log stays append-only for the running gateway
    assert not any("OWNER" in variable for variable in gateway)
    # Migrations run as each database's owner; the gateway's owner only here.
    migrate = _env(_find(manifests, "Job", f"{RELEASE}-migrate"))
    for name in services:
        assert _url_user(migrate[f"{name.upper()}_DATABASE_URL"]) == f"alexandrite_{name}"
    assert _url_user(migrate["GATEWAY_DATABASE_URL"]) == "alexandrite_gateway_owner"
    assert "database-password" not in _secret_keys(migrate)  # the administrator's


def test_the_secret_holds_one_generated_password_per_database_role(
    rendered: dict[str, list[Manifest]],
) -> None:
    data = _find(rendered["defaults"], "Secret", f"{RELEASE}-secrets")["data"]
    keys = [f"{name}-database-password" for name in ("shop", "crm", "mes", "files", "notifier")]
    keys += ["gateway-owner-database-password", "gateway-database-password", "database-password"]
    passwords = [base64.b64decode(data[key]).decode() for key in keys]
    assert len(set(passwords)) == len(keys) and all(len(p) == 32 for p in passwords)


def test_the_bundled_postgresql_gives_every_database_its_own_owner_and_closes_it_to_others(
    rendered: dict[str, list[Manifest]],
) -> None:
    script = _find(rendered["defaults"], "ConfigMap", f"{RELEASE}-postgresql-init")["data"][
        "10-alexandrite.sh"
    ]
    for name in ("shop", "crm", "mes", "files", "notifier"):
        assert f'login_role alexandrite_{name} "${name.upper()}_OWNER_DB_PASSWORD"' in script
        assert f"owned_database alexandrite_{name} alexandrite_{name}" in script
    assert "owned_database alexandrite_gateway alexandrite_gateway_owner" in script
    assert "REVOKE ALL ON DATABASE $1 FROM PUBLIC" in script
    env = _env(_find(rendered["defaults"], "StatefulSet", f"{RELEASE}-postgresql"))
    assert env["SHOP_OWNER_DB_PASSWORD"]["secretKeyRef"]["key"] == "shop-database-password"
