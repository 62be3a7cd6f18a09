"""The platform spec: one port per listener, overridable from the environment, bounded."""

from __future__ import annotations

import pytest

from alexandrite.common import platform


def test_no_two_listeners_of_a_plain_up_share_a_port() -> None:
    ports = [port for process in platform.PROCESSES for port in process.ports().values()]
    assert len(ports) == len(set(ports))


def test_a_port_is_overridden_by_its_one_environment_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ALEXANDRITE_PORT_SHOP", "9001")
    monkeypatch.setenv("ALEXANDRITE_PORT_OTELCOL_OTLP_GRPC", "24317")
    assert platform.SHOP.ready_url == "http://127.0.0.1:9001/ready"
    assert platform.COLLECTOR.port_of("otlp-grpc") == 24317
    assert platform.CRM.port == platform.CRM.default_port


@pytest.mark.parametrize("raw", ["http", "0", "70000"])
def test_an_override_that_is_not_a_port_is_refused(
    monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    monkeypatch.setenv("ALEXANDRITE_PORT_MES", raw)
    with pytest.raises(ValueError, match="ALEXANDRITE_PORT_MES"):
        _ = platform.MES.port


def test_the_shop_settings_take_their_default_port_from_the_platform(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from alexandrite.shop.settings import Settings

    monkeypatch.setenv("ALEXANDRITE_PORT_SHOP", "9101")
    monkeypatch.setenv("ALEXANDRITE_PORT_FILES", "9104")
    settings = Settings()
    assert settings.port == 9101
    assert settings.files_url == "http://127.0.0.1:9104"
