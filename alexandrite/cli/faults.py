"""``alexandrite faults``: switch named faults on and off in the running services (rehearsals).

    alexandrite faults set crm_error_rate=0.3 db_latency_ms=200
    alexandrite faults set poison_message=crm.events     (one-shot: publishes, stores nothing)
    alexandrite faults clear [NAME]
    alexandrite faults list

The faults live in ``<state>/run/faults.json``; each service re-reads it within a second.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Annotated
from urllib.parse import quote

import aio_pika
import httpx
import typer
from rich.console import Console
from rich.table import Table

from alexandrite.common import platform
from alexandrite.common.faults import (
    FAULTS,
    FaultValue,
    InvalidFault,
    parse_fault,
    read_faults_file,
    write_faults_file,
)
from alexandrite.common.messaging.topology import EVENTS_EXCHANGE
from alexandrite.common.settings import default_faults_file

__all__ = ["app", "poison_routing_key", "publish_poison_message"]

app = typer.Typer(
    help="Inject named faults into the running services, without restarting them.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()

DEFAULT_AMQP_URL = f"amqp://guest:guest@{platform.HOST}:{platform.RABBITMQ.port}/"
MANAGEMENT_URL = f"http://{platform.HOST}:{platform.RABBITMQ.port_of('management')}"
# Not an event envelope (no id, type, data): the consumer dead-letters it without retries.
POISON_BODY = b'{"poison": "a message no consumer can read"}'


def _known_bindings() -> dict[str, tuple[str, ...]]:
    from alexandrite.crm.events import queue_spec as crm_queue
    from alexandrite.mes.events import queue_spec as mes_queue
    from alexandrite.shop.events import queue_spec as shop_queue

    specs = (shop_queue([]), crm_queue([]), mes_queue([]))
    return {spec.name: spec.routing_keys for spec in specs}


def _bindings_from_broker(queue: str) -> tuple[str, ...]:
    """The queue's bindings on ``alexandrite.events``, asked of RabbitMQ's management API."""
    try:
        response = httpx.get(
            f"{MANAGEMENT_URL}/api/queues/%2F/{quote(queue, safe='')}/bindings",
            auth=("guest", "guest"),
            timeout=5,
        )
    except httpx.HTTPError:
        return ()
    if response.status_code != 200:
        return ()
    bindings = response.json()
    return tuple(b["routing_key"] for b in bindings if b["source"] == EVENTS_EXCHANGE)


def poison_routing_key(queue: str) -> str:
    """A concrete routing key that ``queue`` binds (wildcards filled in)."""
    keys = _known_bindings().get(queue) or _bindings_from_broker(queue)
    if not keys:
        known = ", ".join(_known_bindings())
        raise InvalidFault(
            f"poison_message: no queue {queue!r} is bound to {EVENTS_EXCHANGE}; known: {known}"
        )
    return ".".join("poison" if word in ("*", "#") else word for word in keys[0].split("."))


async def publish_poison_message(queue: str, amqp_url: str = DEFAULT_AMQP_URL) -> str:
    """Publish one malformed message for ``queue``; returns the routing key used."""
    routing_key = poison_routing_key(queue)
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(EVENTS_EXCHANGE)
        await exchange.publish(
            aio_pika.Message(
                POISON_BODY,
                message_id=str(uuid.uuid4()),
                content_type="application/json",
                app_id="alexandrite-faults",
                headers={"x-alexandrite-fault": "poison_message"},
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=routing_key,
            mandatory=True,
        )
    finally:
        await connection.close()
    return routing_key


def _parse_assignment(text: str) -> tuple[str, FaultValue]:
    name, equals, value = text.partition("=")
    if not equals:
        raise InvalidFault(f"{text!r} is not NAME=VALUE")
    return name.strip(), parse_fault(name.strip(), value.strip())


def _read_current() -> dict[str, FaultValue]:
    path = default_faults_file()
    try:
        return read_faults_file(path)
    except (InvalidFault, ValueError) as exc:
        raise typer.BadParameter(
            f"{path} cannot be read ({exc}); `alexandrite faults clear` starts afresh"
        ) from None


def apply_assignments(
    assignments: list[str], console: Console, amqp_url: str = DEFAULT_AMQP_URL
) -> None:
    """Switch the faults ``NAME=VALUE`` on (stored ones in the faults file, one-shots now)."""
    try:
        parsed = [_parse_assignment(text) for text in assignments]
    except InvalidFault as exc:
        raise typer.BadParameter(str(exc), param_hint="NAME=VALUE") from None
    stored = {name: value for name, value in parsed if FAULTS[name].stored}
    if stored:
        faults = _read_current()
        faults.update(stored)
        write_faults_file(default_faults_file(), faults)
        for name, value in stored.items():
            console.print(f"[yellow]fault on[/yellow] {name}={value}")
    for name, value in parsed:
        if name == "poison_message":
            try:
                key = asyncio.run(publish_poison_message(str(value), amqp_url))
            except InvalidFault as exc:
                raise typer.BadParameter(str(exc), param_hint="NAME=VALUE") from None
            except (OSError, aio_pika.exceptions.AMQPError) as exc:
                console.print(f"[red]could not publish the poison message:[/red] {exc!r}")
                raise typer.Exit(1) from None
            console.print(f"[yellow]poison message sent[/yellow] to {value} (routing key {key})")


def clear_stored(console: Console) -> None:
    default_faults_file().unlink(missing_ok=True)
    console.print("all faults off")


@app.command("set")
def set_faults(
    assignments: Annotated[list[str], typer.Argument(metavar="NAME=VALUE...")],
    amqp_url: Annotated[
        str, typer.Option(help="RabbitMQ for poison_message (the platform's default vhost)")
    ] = DEFAULT_AMQP_URL,
) -> None:
    """Switch faults on (or change their values); the others stay as they are."""
    apply_assignments(assignments, console, amqp_url)


@app.command()
def clear(
    name: Annotated[str | None, typer.Argument(help="one fault; all when left out")] = None,
) -> None:
    """Switch one fault, or all of them, off."""
    path = default_faults_file()
    if name is None:
        clear_stored(console)
        return
    if name not in FAULTS:
        raise typer.BadParameter(f"unknown fault {name!r}; known: {', '.join(FAULTS)}")
    faults = _read_current()
    if faults.pop(name, None) is None:
        console.print(f"{name} was not on")
        return
    write_faults_file(path, faults)
    console.print(f"{name} off")


@app.command("list")
def list_faults(
    as_json: Annotated[bool, typer.Option("--json", help="the faults on, as JSON")] = False,
) -> None:
    """The faults that can be injected, and those on now."""
    faults = _read_current()
    if as_json:
        typer.echo(json.dumps(faults, sort_keys=True))
        return
    table = Table("fault", "value", "what it does")
    for spec in FAULTS.values():
        if not spec.stored:
            table.add_row(spec.name, "[dim]one-shot[/dim]", spec.help)
            continue
        value = faults.get(spec.name)
        shown = "[dim]off[/dim]" if value is None else f"[yellow]{value}[/yellow]"
        table.add_row(spec.name, shown, spec.help)
    console.print(table)
