"""The local CA, the server certificate and key store, and generated secrets."""

from __future__ import annotations

import shutil
import socket
import ssl
import stat
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID

from alexandrite.ops.paths import Paths
from alexandrite.ops.tls import TlsMaterial, ensure_secret, ensure_tls_material


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths(state=tmp_path / "state", cache=tmp_path / "cache").ensure()


def _files(material: TlsMaterial) -> dict[str, tuple[bytes, int]]:
    files = [
        material.ca_cert,
        material.ca_key,
        material.server_cert,
        material.server_key,
        material.server_p12,
        material.p12_password_file,
    ]
    return {path.name: (path.read_bytes(), path.stat().st_mtime_ns) for path in files}


def _certificate(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


@contextmanager
def _tls_server(material: TlsMaterial, host: str) -> Iterator[int]:
    """A TLS echo server on `host` for one connection, serving the server certificate."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(material.server_cert, material.server_key)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as listener:
        listener.bind((host, 0))
        listener.listen()
        listener.settimeout(10)

        def serve() -> None:
            try:
                connection, _ = listener.accept()
                with context.wrap_socket(connection, server_side=True) as tls:
                    tls.sendall(tls.recv(64))
            except (OSError, ssl.SSLError):
                pass  # the client refused us, which some tests want

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        yield listener.getsockname()[1]
        thread.join(timeout=10)


def _handshake(material: TlsMaterial, host: str, server_hostname: str) -> bytes:
    # Trusts the local CA only: not the system store.
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.load_verify_locations(cafile=material.ca_cert)
    with (
        _tls_server(material, host) as port,
        socket.create_connection((host, port), timeout=10) as raw,
        client.wrap_socket(raw, server_hostname=server_hostname) as tls,
    ):
        tls.sendall(b"ping")
        return tls.recv(64)


@pytest.mark.parametrize(
    ("host", "server_hostname"),
    [("127.0.0.1", "localhost"), ("127.0.0.1", "127.0.0.1"), ("::1", "::1")],
)
def test_a_client_trusting_only_the_local_ca_accepts_the_server_certificate(
    paths: Paths, host: str, server_hostname: str
) -> None:
    if ":" in host and not socket.has_ipv6:
        pytest.skip("no IPv6 loopback here")
    material = ensure_tls_material(paths)
    assert _handshake(material, host, server_hostname) == b"ping"


def test_a_client_refuses_a_name_the_certificate_does_not_hold(paths: Paths) -> None:
    material = ensure_tls_material(paths)
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(material, "127.0.0.1", "example.org")


def test_the_server_certificate_is_for_server_authentication_only(paths: Paths) -> None:
    material = ensure_tls_material(paths)
    certificate = _certificate(material.server_cert)
    usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca is False
    certificate.verify_directly_issued_by(_certificate(material.ca_cert))


def test_a_second_call_changes_no_file(paths: Paths) -> None:
    material = ensure_tls_material(paths)
    before = _files(material)
    assert ensure_tls_material(paths) == material
    assert _files(material) == before


def test_a_server_certificate_expiring_within_30_days_is_renewed_by_the_same_ca(
    paths: Paths,
) -> None:
    material = ensure_tls_material(paths)
    before = _files(material)
    old = _certificate(material.server_cert)
    # A year minus a fortnight later, the one-year server certificate has two weeks left.
    later = old.not_valid_after_utc - timedelta(days=14)
    ensure_tls_material(paths, now=later)
    after = _files(material)
    renewed = _certificate(material.server_cert)
    assert renewed.serial_number != old.serial_number
    assert renewed.not_valid_after_utc > later + timedelta(days=300)
    assert after["ca.pem"] == before["ca.pem"]
    assert after["server.p12"] != before["server.p12"]
    renewed.verify_directly_issued_by(_certificate(material.ca_cert))


def test_a_new_ca_brings_a_new_server_certificate(paths: Paths) -> None:
    material = ensure_tls_material(paths)
    old_server = _certificate(material.server_cert)
    material.ca_cert.unlink()
    ensure_tls_material(paths)
    new_server = _certificate(material.server_cert)
    assert new_server.serial_number != old_server.serial_number
    new_server.verify_directly_issued_by(_certificate(material.ca_cert))


def test_an_expired_ca_is_replaced(paths: Paths) -> None:
    material = ensure_tls_material(paths)
    ca = _certificate(material.ca_cert)
    ensure_tls_material(paths, now=ca.not_valid_after_utc - timedelta(days=1))
    assert _certificate(material.ca_cert).serial_number != ca.serial_number


def test_keys_and_the_key_store_are_readable_by_their_owner_only(paths: Paths) -> None:
    material = ensure_tls_material(paths)
    for path in (material.ca_key, material.server_key, material.server_p12):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(material.p12_password_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(paths.secrets.stat().st_mode) == 0o700


def test_the_key_store_opens_with_the_stored_password_and_holds_the_chain(paths: Paths) -> None:
    material = ensure_tls_material(paths)
    store = pkcs12.load_pkcs12(material.server_p12.read_bytes(), material.p12_password.encode())
    assert store.cert is not None
    assert store.cert.friendly_name == material.p12_alias.encode()
    assert store.cert.certificate == _certificate(material.server_cert)
    assert [extra.certificate for extra in store.additional_certs] == [
        _certificate(material.ca_cert)
    ]


@pytest.mark.skipif(shutil.which("keytool") is None, reason="no Java keytool here")
def test_java_reads_the_key_store(paths: Paths) -> None:
    material = ensure_tls_material(paths)
    listing = subprocess.run(
        [
            "keytool", "-list", "-keystore", str(material.server_p12), "-storetype", "PKCS12",
            "-storepass:file", str(material.p12_password_file), "-alias", material.p12_alias,
        ],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert "PrivateKeyEntry" in listing.stdout


def test_a_secret_is_generated_once_and_kept_private(paths: Paths) -> None:
    token = ensure_secret(paths, "otlp-token")
    assert len(token) >= 40
    assert token.replace("-", "").replace("_", "").isalnum()
    assert ensure_secret(paths, "otlp-token") == token
    assert ensure_secret(paths, "other") != token
    assert stat.S_IMODE((paths.secrets / "otlp-token").stat().st_mode) == 0o600


def test_an_empty_secret_file_is_regenerated(paths: Paths) -> None:
    (paths.secrets / "otlp-token").write_text("")
    assert len(ensure_secret(paths, "otlp-token", nbytes=16)) >= 20


def test_a_certificate_issued_now_is_already_valid(paths: Paths) -> None:
    material = ensure_tls_material(paths)
    assert _certificate(material.server_cert).not_valid_before_utc < datetime.now(UTC)
