"""``python -m alexandrite.gateway``: run the support gateway on https://127.0.0.1:8443."""

import uvicorn

from alexandrite.gateway.app import create_app
from alexandrite.gateway.server import tls_config
from alexandrite.gateway.settings import Settings

settings = Settings()
uvicorn.Server(tls_config(create_app(settings), settings, loop="uvloop", http="httptools")).run()
