"""Browser tests drive Debian's Chromium (/usr/bin/chromium) with the Playwright package; no
browser is ever downloaded (never ``playwright install``). They need the running stack, like
the end-to-end tests, and save screenshots under ``test-artifacts/`` (git-ignored)."""

from __future__ import annotations

import base64
import hashlib
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from alexandrite.ops.paths import REPO_ROOT
from tests.e2e.conftest import running_platform

__all__ = ["running_platform"]

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO_ROOT / "test-artifacts"


def spki_pin(certificate: Path) -> str:
    """Chromium's pin of a certificate's public key (base64 SHA-256 of the SPKI)."""
    cert = x509.load_pem_x509_certificate(certificate.read_bytes())
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def chromium_binary() -> Path:
    if not CHROMIUM.exists() or shutil.which("chromium") is None:
        pytest.fail("Debian's chromium is missing: apt-get install -y chromium", pytrace=False)
    return CHROMIUM


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def chromium(chromium_binary: Path, server_certificate: Path) -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(chromium_binary),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                # Trust exactly the gateway's key (the local CA is not in Chromium's store)
                # rather than ignoring every certificate error.
                f"--ignore-certificate-errors-spki-list={spki_pin(server_certificate)}",
            ],
        )
        try:
            yield browser
        finally:
            await browser.close()
