"""Zipkin's MariaDB database: where it is, who logs in, and running SQL in it.

SQL runs through the `mariadb` command-line client (installed with mariadb-server), so the ops
code needs no MySQL driver. The password reaches the client through MYSQL_PWD, never argv, so it
does not show in `ps`.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field

from alexandrite.common import platform
from alexandrite.ops.commands import SystemCommandError, run
from alexandrite.ops.paths import Paths
from alexandrite.ops.tls import ensure_secret
from alexandrite.ops.zipkin.errors import ZipkinError

__all__ = ["PASSWORD_SECRET", "ZipkinDatabase"]

# The name of the file under Paths.secrets that holds the zipkin user's password.
PASSWORD_SECRET = "zipkin-db-password"


@dataclass(frozen=True)
class ZipkinDatabase:
    """A MariaDB database that holds Zipkin's tables, and the user Zipkin logs in as."""

    password: str = field(repr=False)
    host: str = platform.HOST
    port: int = platform.MARIADB.port
    name: str = "zipkin"
    user: str = "zipkin"

    @classmethod
    def local(cls, paths: Paths) -> ZipkinDatabase:
        """The local-mode database: `zipkin` on the local MariaDB, password from the secrets dir."""
        return cls(password=ensure_secret(paths, PASSWORD_SECRET))

    def query(self, sql: str, *, timeout: float = 120.0) -> list[list[str]]:
        """Run one or more statements; return the rows they print, as lists of column texts."""
        client = shutil.which("mariadb") or shutil.which("mysql")
        if client is None:
            raise ZipkinError("the mariadb client is missing: apt-get install mariadb-client")
        command = [
            client,
            "--batch",
            "--skip-column-names",
            "--protocol=TCP",
            f"--host={self.host}",
            f"--port={self.port}",
            f"--user={self.user}",
            f"--database={self.name}",
        ]
        try:
            result = run(command, input_text=sql, env={"MYSQL_PWD": self.password}, timeout=timeout)
        except SystemCommandError as exc:
            raise ZipkinError(f"SQL failed in {self.name}@{self.host}:{self.port}: {exc}") from exc
        return [line.split("\t") for line in result.stdout.splitlines()]
