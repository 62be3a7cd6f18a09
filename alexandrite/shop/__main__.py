"""``python -m alexandrite.shop``: run the Shop API."""

from alexandrite.common.server import serve
from alexandrite.shop.app import create_app
from alexandrite.shop.settings import Settings

serve(create_app, Settings())
