"""``python -m alexandrite.mes``: run the MES API."""

from __future__ import annotations

from alexandrite.common.server import serve
from alexandrite.mes.app import create_app
from alexandrite.mes.settings import Settings

if __name__ == "__main__":
    serve(create_app, Settings())
