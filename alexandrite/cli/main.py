"""The ``alexandrite`` command: run the platform, watch it, and drive demo orders through it."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import time
from datetime import UTC, datetime
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from alexandrite.cli import faults
from alexandrite.cli.demo import DemoResult, print_summary, run_demo
from alexandrite.cli.indicators import print_indicators
from alexandrite.cli.rehearsal import fault_rehearsal
from alexandrite.cli.security import audit_app, tokens_app, users_app
from alexandrite.common import platform
from alexandrite.ops.gateway_bootstrap import DEMO_PASSWORD_SECRET
from alexandrite.ops.paths import Paths

app = typer.Typer(
    help="Alexandrite: the 3D-printing order platform with end-to-end tracing.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")
app.add_typer(audit_app, name="audit")
app.add_typer(faults.app, name="faults")
console = Console()

ZIPKIN_UI = f"{platform.ZIPKIN.url}/zipkin/"
GATEWAY = f"{platform.GATEWAY.url}/"


def _logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False)],
    )
    # Each readiness poll would be a line.
    logging.getLogger("httpx").setLevel(logging.WARNING)


@app.command()
def up(
    automation: Annotated[
        bool, typer.Option(help="CRM auto-approval and MES simulated printers")
    ] = True,
    tracing: Annotated[bool, typer.Option(help="OpenTelemetry, the Collector and Zipkin")] = True,
    trace_storage: Annotated[
        str, typer.Option(help="Zipkin storage: mysql (persistent) or mem (quick runs)")
    ] = "mysql",
    store: Annotated[
        str | None,
        typer.Option(help="Zipkin's store: mariadb (default), opensearch (distributed), memory"),
    ] = None,
    failure_rate: Annotated[float, typer.Option(help="share of simulated prints that fail")] = 0.2,
    sampling_percentage: Annotated[
        float, typer.Option(help="share of ordinary traces the Collector keeps (errors: all)")
    ] = 100.0,
    alert_profile: Annotated[
        str, typer.Option(help="alert limits: production, or test (30 s order limits)")
    ] = "production",
    broker: Annotated[
        str,
        typer.Option(help="RabbitMQ: single node, or cluster (3 nodes, HAProxy, quorum queues)"),
    ] = "single",
    restart: Annotated[
        bool,
        typer.Option(
            "--restart",
            help="restart our services even if unchanged (changed code or settings always do)",
        ),
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Install what is missing and start every server and service (idempotent: running
    programs whose configuration and code did not change keep running)."""
    from alexandrite.ops.stack import StackOptions, bring_up

    _logging(verbose)
    if store is not None:
        # DESIGN.md section 6 names the stores; --trace-storage is the older spelling.
        stores = {"mariadb": "mysql", "memory": "mem", "opensearch": "opensearch"}
        if store not in stores:
            raise typer.BadParameter(
                "store is mariadb, opensearch or memory (cassandra is not available yet)"
            )
        trace_storage = stores[store]
    if trace_storage not in {"mysql", "mem", "opensearch"}:
        raise typer.BadParameter("trace storage is mysql, mem or opensearch")
    if alert_profile not in {"production", "test"}:
        raise typer.BadParameter("alert profile is production or test")
    if broker not in {"single", "cluster"}:
        raise typer.BadParameter("broker is single or cluster")
    started = time.monotonic()
    options = StackOptions(
        automation=automation,
        tracing=tracing,
        trace_storage=trace_storage,  # type: ignore[arg-type]
        failure_rate=failure_rate,
        sampling_percentage=sampling_percentage,
        alert_profile=alert_profile,  # type: ignore[arg-type]
        restart_services=restart,
        broker=broker,  # type: ignore[arg-type]
    )
    bring_up(options, say=lambda text: console.print(f"[green]✓[/green] {text}"))
    elapsed = time.monotonic() - started
    console.print(f"[bold green]Alexandrite is up[/bold green] in {elapsed:.0f} s")
    _where_to_look(tracing)
    if tracing:
        _how_to_log_in()


def _how_to_log_in() -> None:
    paths = Paths.from_env()
    console.print(
        f"\nTraces are for the support role: log in at [bold]{GATEWAY}[/bold] as "
        f"[bold]demo-support[/bold], password: `cat {paths.secrets / DEMO_PASSWORD_SECRET}` "
        f"(the certificate is signed by the local CA {paths.tls / 'ca.pem'})."
    )


def _where_to_look(tracing: bool) -> None:
    table = Table(title="Where to look", show_header=False)
    management = f"http://{platform.HOST}:{platform.RABBITMQ.port_of('management')}/"
    table.add_row("Shop API", f"{platform.SHOP.url}/docs")
    table.add_row("CRM API", f"{platform.CRM.url}/docs")
    table.add_row("MES API", f"{platform.MES.url}/docs")
    table.add_row("3D file storage", f"{platform.FILES.url}/docs")
    table.add_row("RabbitMQ management", f"{management} (guest / guest)")
    if tracing:
        table.add_row("Support gateway (traces)", f"{GATEWAY}  (role support)")
        table.add_row("Zipkin, loopback only", ZIPKIN_UI)
        table.add_row("Collector health", f"{platform.COLLECTOR.url}/")
    table.add_row("Prometheus alerts", f"{platform.PROMETHEUS.url}/classic/alerts")
    table.add_row("Alertmanager", f"{platform.ALERTMANAGER.url}/")
    table.add_row("Notifications", f"{platform.NOTIFIER.url}/api/v1/notifications")
    table.add_row("Logs (JSON lines)", str(Paths.from_env().logs))
    console.print(table)


@app.command()
def down(
    everything: Annotated[
        bool, typer.Option("--all", help="also stop PostgreSQL, RabbitMQ and MariaDB")
    ] = False,
) -> None:
    """Stop the platform's processes."""
    from alexandrite.ops.stack import TearDownFailed, tear_down

    _logging(False)
    try:
        tear_down(everything)
    except TearDownFailed as error:
        console.print(f"[red]not everything stopped:[/red] {error}")
        raise typer.Exit(1) from error
    console.print("stopped")


@app.command()
def status() -> None:
    """Show each process and whether it is ready."""
    from alexandrite.ops.supervisor import Supervisor

    processes = Supervisor(Paths.from_env()).status()
    if not processes:
        console.print("nothing is running: start with [bold]alexandrite up[/bold]")
        raise typer.Exit(1)
    table = Table(title="Alexandrite processes")
    for column in ("process", "state", "pid", "uptime", "ready"):
        table.add_column(column)
    ready_urls = {
        spec.name: spec.ready_url for spec in platform.PROCESSES if spec.ready_url is not None
    }
    # The gateway's certificate is our own CA's; readiness is all we ask of it here.
    with httpx.Client(timeout=2.0, verify=False) as client:
        for process in processes:
            name = process["name"]
            ready = "-"
            if name in ready_urls:
                try:
                    ok = client.get(ready_urls[name]).status_code < 300
                except httpx.HTTPError:
                    ok = False
                ready = "[green]yes[/green]" if ok else "[red]no[/red]"
            uptime = process["now"] - process["start"] if process["statename"] == "RUNNING" else 0
            table.add_row(
                name, process["statename"], str(process["pid"] or "-"), f"{uptime}s", ready
            )
    console.print(table)
    print_indicators(console)


@app.command()
def logs(
    service: Annotated[str, typer.Argument(help="shop, crm, mes, files, otelcol, zipkin")],
    follow: Annotated[bool, typer.Option("--follow", "-f")] = False,
    lines: Annotated[int, typer.Option("--lines", "-n")] = 50,
) -> None:
    """Print a process's log (JSON lines carrying trace_id and span_id)."""
    path = Paths.from_env().logs / f"{service}.log"
    if not path.exists():
        console.print(f"no log at {path}")
        raise typer.Exit(1)
    command = ["tail", f"-n{lines}", *(["-F"] if follow else []), str(path)]
    raise typer.Exit(subprocess.call(command))


@app.command()
def demo(
    orders: Annotated[int, typer.Option(help="how many orders to drive through")] = 20,
    concurrency: Annotated[int, typer.Option(help="orders placed at once")] = 8,
    timeout: Annotated[float, typer.Option(help="seconds to wait for all to finish")] = 300.0,
    fault: Annotated[
        list[str] | None,
        typer.Option(
            "--faults",
            help="rehearse: NAME=VALUE faults on during the demo (e.g. crm_error_rate=0.3); "
            "waits for the alert and its resolved notice",
        ),
    ] = None,
) -> None:
    """Drive orders through the real APIs and print where they ended and how long it took."""
    rehearsing = bool(fault)
    since = datetime.now(UTC)
    if fault:
        faults.apply_assignments(fault, console)

    async def drive() -> DemoResult:
        if not rehearsing:
            return await run_demo(
                orders, concurrency=concurrency, timeout_s=timeout, console=console
            )
        async with fault_rehearsal(since, console):
            return await run_demo(
                orders, concurrency=concurrency, timeout_s=timeout, console=console
            )

    result = asyncio.run(drive())
    tracing = os.environ.get("ALEXANDRITE_TRACING", "true") != "false"
    print_summary(result, console, GATEWAY if tracing else None)
    if tracing:
        _how_to_log_in()
    unfinished = [
        order_id
        for order_id, order in result.orders.items()
        if order["status"] not in {"completed", "failed", "rejected", "cancelled"}
    ]
    if result.errors or unfinished:
        console.print(f"[red]{len(unfinished)} orders did not finish in time[/red]")
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
