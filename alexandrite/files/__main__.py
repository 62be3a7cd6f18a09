"""``python -m alexandrite.files``: run the 3D file storage."""

from alexandrite.common.server import serve
from alexandrite.files.app import create_app
from alexandrite.files.settings import Settings

# Guarded: the analysis workers' forkserver must never start a server when it imports modules.
if __name__ == "__main__":
    serve(create_app, Settings())
