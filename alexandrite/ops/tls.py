"""The local TLS material: a private CA and a server certificate for localhost signed by it.

Generated under Paths.tls at setup, never committed, and only rewritten when missing, unusable
or within 30 days of expiry:

    ca.pem, ca-key.pem             the local CA (EC P-256, 10 years)
    server.pem, server-key.pem     localhost, 127.0.0.1, ::1 (EC P-256, 1 year, serverAuth)
    server.p12                     the server key and chain as PKCS12, for Zipkin's Armeria;
                                   its password is the secret `p12-password`
"""

from __future__ import annotations

import ipaddress
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from alexandrite.ops.paths import Paths
from alexandrite.ops.secrets import ensure_secret

__all__ = [
    "P12_ALIAS",
    "P12_PASSWORD_SECRET",
    "SERVER_NAMES",
    "TlsMaterial",
    "ensure_secret",
    "ensure_tls_material",
]

log = logging.getLogger(__name__)

P12_PASSWORD_SECRET = "p12-password"
# The key store entry's alias (friendly name), for Armeria's key-alias property.
P12_ALIAS = "alexandrite"
SERVER_NAMES = ("localhost", "127.0.0.1", "::1")
RENEW_BEFORE = timedelta(days=30)
CA_LIFETIME = timedelta(days=3650)
SERVER_LIFETIME = timedelta(days=365)
# Back-date certificates a little so that a clock slightly behind still accepts them.
_SKEW = timedelta(hours=1)

Key = ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class TlsMaterial:
    """Where the CA, the server certificate and its key store are."""

    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    server_p12: Path
    p12_password_file: Path
    p12_alias: str = P12_ALIAS

    @classmethod
    def at(cls, paths: Paths) -> TlsMaterial:
        return cls(
            ca_cert=paths.tls / "ca.pem",
            ca_key=paths.tls / "ca-key.pem",
            server_cert=paths.tls / "server.pem",
            server_key=paths.tls / "server-key.pem",
            server_p12=paths.tls / "server.p12",
            p12_password_file=paths.secrets / P12_PASSWORD_SECRET,
        )

    @property
    def p12_password(self) -> str:
        return self.p12_password_file.read_text(encoding="utf-8").strip()


def _write(path: Path, data: bytes, mode: int) -> None:
    """Replace `path` atomically, with `mode` set before any byte is written."""
    staging = path.with_name(f".{path.name}.new")
    staging.unlink(missing_ok=True)
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    staging.replace(path)


def _key_pem(key: Key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load(cert_path: Path, key_path: Path) -> tuple[x509.Certificate, Key] | None:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError):
        return None
    if not isinstance(key, Key) or key.public_key() != cert.public_key():
        return None
    return cert, key


def _fresh(cert: x509.Certificate, now: datetime) -> bool:
    return cert.not_valid_before_utc <= now and cert.not_valid_after_utc - now > RENEW_BEFORE


def _server_names(cert: x509.Certificate) -> set[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    dns = san.get_values_for_type(x509.DNSName)
    ips = [str(address) for address in san.get_values_for_type(x509.IPAddress)]
    return {*dns, *ips}


def _issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _new_ca(material: TlsMaterial, now: datetime) -> tuple[x509.Certificate, Key]:
    log.info("generating the local CA in %s", material.ca_cert.parent)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Alexandrite"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Alexandrite local CA"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _SKEW)
        .not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write(material.ca_key, _key_pem(key), 0o600)
    _write(material.ca_cert, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return cert, key


def _new_server(
    material: TlsMaterial, ca: tuple[x509.Certificate, Key], now: datetime
) -> tuple[x509.Certificate, Key]:
    log.info("issuing the server certificate for %s", ", ".join(SERVER_NAMES))
    ca_cert, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ("127.0.0.1", "::1")]
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _SKEW)
        .not_valid_after(min(now + SERVER_LIFETIME, ca_cert.not_valid_after_utc))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write(material.server_key, _key_pem(key), 0o600)
    _write(material.server_cert, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return cert, key


def _p12_holds(material: TlsMaterial, password: str, cert: x509.Certificate) -> bool:
    try:
        stored = pkcs12.load_pkcs12(material.server_p12.read_bytes(), password.encode())
    except (OSError, ValueError):
        return False
    return stored.cert is not None and stored.cert.certificate == cert


def _new_p12(
    material: TlsMaterial,
    password: str,
    server: tuple[x509.Certificate, Key],
    ca_cert: x509.Certificate,
) -> None:
    log.info("writing the PKCS12 key store %s", material.server_p12)
    data = pkcs12.serialize_key_and_certificates(
        name=material.p12_alias.encode(),
        key=server[1],
        cert=server[0],
        cas=[ca_cert],
        encryption_algorithm=serialization.BestAvailableEncryption(password.encode()),
    )
    _write(material.server_p12, data, 0o600)


def ensure_tls_material(paths: Paths, *, now: datetime | None = None) -> TlsMaterial:
    """Make sure the CA, server certificate and key store exist, match and are not expiring.

    Only what is missing, mismatched or within 30 days of expiry is rewritten, so a second
    call changes nothing. `now` exists for tests that look into the future.
    """
    moment = now or datetime.now(UTC)
    material = TlsMaterial.at(paths)
    paths.tls.mkdir(parents=True, exist_ok=True)
    password = ensure_secret(paths, P12_PASSWORD_SECRET)

    ca = _load(material.ca_cert, material.ca_key)
    if ca is None or not _fresh(ca[0], moment):
        ca = _new_ca(material, moment)
    server = _load(material.server_cert, material.server_key)
    if (
        server is None
        or not _fresh(server[0], moment)
        or not _issued_by(server[0], ca[0])
        or not set(SERVER_NAMES) <= _server_names(server[0])
    ):
        server = _new_server(material, ca, moment)
    if not _p12_holds(material, password, server[0]):
        _new_p12(material, password, server, ca[0])
    for secret_file in (material.ca_key, material.server_key, material.server_p12):
        secret_file.chmod(0o600)
    return material
