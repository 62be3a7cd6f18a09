"""Zipkin's MySQL schema, read from the jar it ships in and applied to MariaDB once.

The schema is `mysql.sql` inside the exec jar's nested zipkin-storage-mysql-v1 jar (the same
file as openzipkin/zipkin's zipkin-storage/mysql-v1/src/main/resources/mysql.sql), so it always
matches the server version we run and no copy lives in git.

Its `ALTER TABLE ... ADD INDEX` lines are not idempotent (re-running them adds duplicate
indexes), so each table's statements run only when that table does not exist yet.
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
from collections import defaultdict
from pathlib import Path

from alexandrite.ops.paths import Paths
from alexandrite.ops.zipkin.database import ZipkinDatabase
from alexandrite.ops.zipkin.errors import ZipkinError
from alexandrite.ops.zipkin.jar import ensure_zipkin_jar

__all__ = ["ensure_zipkin_schema", "split_schema_by_table", "zipkin_mysql_schema"]

log = logging.getLogger(__name__)

_STORAGE_JAR = re.compile(r"^BOOT-INF/lib/zipkin-storage-mysql-v1-[^/]+\.jar$")
_TABLE = re.compile(r"^(?:CREATE TABLE IF NOT EXISTS|ALTER TABLE)\s+`?(\w+)`?", re.IGNORECASE)


def zipkin_mysql_schema(jar: Path) -> str:
    """The text of mysql.sql from the MySQL storage jar nested in Zipkin's exec jar."""
    try:
        with zipfile.ZipFile(jar) as server:
            nested = [name for name in server.namelist() if _STORAGE_JAR.match(name)]
            if len(nested) != 1:
                raise ZipkinError(f"{jar} holds {len(nested)} MySQL storage jars, expected 1")
            with zipfile.ZipFile(io.BytesIO(server.read(nested[0]))) as storage:
                return storage.read("mysql.sql").decode("utf-8")
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise ZipkinError(f"cannot read the MySQL schema from {jar}: {exc}") from exc


def _statements(sql: str) -> list[str]:
    """Split SQL on the semicolons outside quotes (the column comments hold some)."""
    statements: list[str] = []
    current: list[str] = []
    quote: str | None = None
    for char in sql:
        if quote is not None:
            if char == quote:
                quote = None
        elif char in "'`\"":
            quote = char
        elif char == ";":
            statements.append("".join(current))
            current = []
            continue
        current.append(char)
    statements.append("".join(current))
    return statements


def split_schema_by_table(schema: str) -> dict[str, list[str]]:
    """Group the schema's statements by the table they create or alter, in file order.

    `SET GLOBAL innodb_file_format=...` (older Zipkin releases) is dropped: MariaDB 10.3+ has no
    such variable and refuses it.
    """
    lines = [line for line in schema.splitlines() if not line.lstrip().startswith("--")]
    by_table: dict[str, list[str]] = defaultdict(list)
    for raw in _statements("\n".join(lines)):
        statement = raw.strip()
        if not statement or "innodb_file_format" in statement.lower():
            continue
        match = _TABLE.match(statement)
        if match is None:
            raise ZipkinError(f"unexpected statement in Zipkin's schema: {statement[:80]}")
        by_table[match.group(1)].append(statement)
    return dict(by_table)


def ensure_zipkin_schema(paths: Paths, db: ZipkinDatabase | None = None) -> list[str]:
    """Create the Zipkin tables missing from `db` (default: the local one); return their names.

    The database and its user must exist already (the MariaDB module creates them).
    """
    db = db or ZipkinDatabase.local(paths)
    wanted = split_schema_by_table(zipkin_mysql_schema(ensure_zipkin_jar(paths)))
    rows = db.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE();"
    )
    existing = {row[0] for row in rows}
    created: list[str] = []
    for table, statements in wanted.items():
        if table in existing:
            continue
        log.info("creating Zipkin table %s in %s", table, db.name)
        try:
            db.query(";\n".join(statements) + ";")
        except ZipkinError:
            # The table is new and empty: drop it so the next run creates it with its indexes
            # instead of skipping a half-built table.
            db.query(f"DROP TABLE IF EXISTS `{table}`;")
            raise
        created.append(table)
    return created
