"""Command line: `python -m alexandrite.ops.zipkin purge --days 30` (also: `jar`, `schema`,
and `retention --days 7 --every 3600`, the supervised job that purges once an interval)."""

from __future__ import annotations

import argparse
import logging
import sys
import time

from alexandrite.ops.paths import Paths
from alexandrite.ops.zipkin.database import ZipkinDatabase
from alexandrite.ops.zipkin.errors import ZipkinError
from alexandrite.ops.zipkin.jar import ensure_zipkin_jar
from alexandrite.ops.zipkin.retention import purge_old_traces
from alexandrite.ops.zipkin.schema import ensure_zipkin_schema


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m alexandrite.ops.zipkin")
    commands = parser.add_subparsers(dest="command", required=True)
    purge = commands.add_parser("purge", help="delete traces older than --days from MariaDB")
    purge.add_argument("--days", type=_positive, required=True)
    purge.add_argument("--batch-size", type=_positive, default=1000)
    retention = commands.add_parser("retention", help="purge every --every seconds, forever")
    retention.add_argument("--days", type=_positive, required=True)
    retention.add_argument("--every", type=_positive, default=3600)
    commands.add_parser("jar", help="fetch the Zipkin jar if needed and print its path")
    commands.add_parser("schema", help="create the missing Zipkin tables in MariaDB")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    paths = Paths.from_env().ensure()
    try:
        return _run(args, paths)
    except ZipkinError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace, paths: Paths) -> int:
    if args.command == "purge":
        deleted = purge_old_traces(
            args.days, ZipkinDatabase.local(paths), batch_size=args.batch_size
        )
        print(f"deleted {deleted} rows")
    elif args.command == "retention":
        _retention_forever(args.days, args.every, ZipkinDatabase.local(paths))
    elif args.command == "jar":
        print(ensure_zipkin_jar(paths))
    else:
        created = ensure_zipkin_schema(paths)
        print("created " + (", ".join(created) if created else "nothing: all tables exist"))
    return 0


def _retention_forever(days: int, every_s: int, db: ZipkinDatabase) -> None:
    log = logging.getLogger("alexandrite.ops.zipkin.retention")
    while True:
        started = time.monotonic()
        try:
            deleted = purge_old_traces(days, db)
            log.info("retention: deleted %d rows older than %d days", deleted, days)
        except ZipkinError as exc:
            # MariaDB may be restarting: try again at the next interval rather than exit.
            log.warning("retention: purge failed: %s", exc)
        time.sleep(max(1.0, every_s - (time.monotonic() - started)))


if __name__ == "__main__":
    sys.exit(main())
