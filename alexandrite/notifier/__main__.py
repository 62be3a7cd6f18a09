"""Run the notifier: ``python -m alexandrite.notifier`` (settings from ``NOTIFIER_*`` variables)."""

from __future__ import annotations

from alexandrite.common.server import serve
from alexandrite.notifier.app import create_app
from alexandrite.notifier.settings import Settings

if __name__ == "__main__":
    serve(create_app, Settings())
