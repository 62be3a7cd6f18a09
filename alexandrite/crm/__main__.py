"""Run the CRM API: ``python -m alexandrite.crm`` (settings from ``CRM_*`` variables)."""

from __future__ import annotations

from alexandrite.common.server import serve
from alexandrite.crm.app import create_app
from alexandrite.crm.settings import Settings

if __name__ == "__main__":
    serve(create_app, Settings())
