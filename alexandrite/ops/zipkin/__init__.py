"""Zipkin, the trace store: its jar from Maven Central, its MariaDB schema, its process, retention.

    ensure_zipkin_jar(paths)                 # download io.zipkin:zipkin-server:<v>:exec once
    ensure_zipkin_schema(paths)              # create the zipkin_* tables that are missing
    zipkin_program(paths, "mysql")           # what the supervisor runs (127.0.0.1:9411)
    purge_old_traces(30, ZipkinDatabase.local(paths))

    python -m alexandrite.ops.zipkin purge --days 30

The database and its user are created by the MariaDB module; this package only fills it.

Errors:
    ZipkinError: the jar could not be fetched or read, or the schema could not be applied.
"""

from __future__ import annotations

from alexandrite.ops.zipkin.database import PASSWORD_SECRET, ZipkinDatabase
from alexandrite.ops.zipkin.errors import ZipkinError
from alexandrite.ops.zipkin.jar import ZIPKIN_VERSION, ensure_zipkin_jar, zipkin_jar_path
from alexandrite.ops.zipkin.program import ZIPKIN_PORT, retention_program, zipkin_program
from alexandrite.ops.zipkin.retention import purge_old_traces
from alexandrite.ops.zipkin.schema import ensure_zipkin_schema, zipkin_mysql_schema

__all__ = [
    "PASSWORD_SECRET",
    "ZIPKIN_PORT",
    "ZIPKIN_VERSION",
    "ZipkinDatabase",
    "ZipkinError",
    "ensure_zipkin_jar",
    "ensure_zipkin_schema",
    "purge_old_traces",
    "retention_program",
    "zipkin_jar_path",
    "zipkin_mysql_schema",
    "zipkin_program",
]
