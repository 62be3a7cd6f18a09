"""The MES handlers with a fake unit of work and a fake file storage (no servers): starting a
job checks its model with no transaction open, prints left by a dead process are resumed or
failed and their printers freed, and the end of a print is retried through a database outage."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from types import TracebackType

import pytest
from prometheus_client import CollectorRegistry

from alexandrite.common.contracts import EventPayload, ProductionFailed
from alexandrite.common.errors import (
    Conflict,
    DependencyFailed,
    InvalidInput,
    InvalidModel,
    NotFound,
)
from alexandrite.mes.domain import (
    RESTARTED_MID_PRINT,
    JobStatus,
    PrinterStatus,
    PrintTimes,
    lease_expired,
    overrun_ratio,
)
from alexandrite.mes.handlers import MesHandlers
from alexandrite.mes.metrics import MesMetrics
from alexandrite.mes.retry import RetryPolicy, is_database_outage
from alexandrite.mes.store import Job, Printer

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
# 8 cm³ at 0.5 s/cm³: every print here is expected to take 4 s.
TIMES = PrintTimes(seconds_per_cm3=0.5, minimum_s=0.1, maximum_s=100.0)
LEASE_S = 10.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class FakeJobs:
    """The jobs and printers in memory; locks are not modelled (one task at a time here)."""

    def __init__(self) -> None:
        self.jobs: dict[uuid.UUID, Job] = {}
        self.printers: dict[str, Printer] = {}
        self.cancelled: dict[uuid.UUID, str] = {}

    async def get_job(self, job_id: uuid.UUID, lock: bool = False) -> Job:
        if job_id not in self.jobs:
            raise NotFound(f"job {job_id} does not exist")
        return self.jobs[job_id]

    async def find_job(self, job_id: uuid.UUID, skip_locked: bool = False) -> Job | None:
        return self.jobs.get(job_id)

    async def find_job_for_order(self, order_id: uuid.UUID, lock: bool = False) -> Job | None:
        return next((j for j in self.jobs.values() if j.order_id == order_id), None)

    async def add_job(self, job: Job) -> bool:
        if await self.find_job_for_order(job.order_id) is not None:
            return False
        job.created_at = T0
        self.jobs[job.id] = job
        return True

    async def list_jobs(
        self, status: JobStatus | None, order_id: uuid.UUID | None, limit: int
    ) -> Sequence[Job]:
        return [
            j
            for j in self.jobs.values()
            if (status is None or j.status == status) and (order_id in (None, j.order_id))
        ][:limit]

    async def claim_next_queued_job(self) -> Job | None:
        return next(
            (j for j in self.jobs.values() if j.status == "queued" and j.printer is None), None
        )

    async def is_cancelled(self, order_id: uuid.UUID) -> bool:
        return order_id in self.cancelled

    async def remember_cancelled(self, order_id: uuid.UUID, reason: str) -> None:
        self.cancelled[order_id] = reason

    async def lock_printer(self, name: str, skip_locked: bool = False) -> Printer | None:
        if name not in self.printers and not skip_locked:
            raise InvalidInput(f"no printer named {name!r}")
        return self.printers.get(name)

    async def lock_any_idle_printer(self) -> Printer | None:
        return next((p for p in self.printers.values() if p.status == "idle"), None)

    async def lock_printers_with_expired_lease(self, now: datetime) -> Sequence[Printer]:
        return [
            p
            for p in self.printers.values()
            if p.status == "busy" and lease_expired(p.lease_expires_at, now)
        ]


class FakeUnitOfWork:
    def __init__(self, world: World) -> None:
        self._world = world
        self.jobs = world.jobs

    async def __aenter__(self) -> FakeUnitOfWork:
        if self._world.outages > 0:
            self._world.outages -= 1
            raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")
        self._world.open_units += 1
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._world.open_units -= 1

    async def publish(self, payload: EventPayload) -> object:
        self._world.pending.append(payload)
        return None

    async def commit(self) -> None:
        self._world.published.extend(self._world.pending)
        self._world.pending.clear()
        self._world.commits += 1


class World:
    """The fake database, its outages, and the events committed to the outbox."""

    def __init__(self, printers: int = 2) -> None:
        self.jobs = FakeJobs()
        for number in range(1, printers + 1):
            name = f"printer-{number}"
            self.jobs.printers[name] = Printer(name=name, status="idle", current_job_id=None)
        self.open_units = 0
        self.outages = 0
        self.commits = 0
        self.pending: list[EventPayload] = []
        self.published: list[EventPayload] = []

    def __call__(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self)

    def queued_job(self) -> Job:
        job = Job(
            id=uuid.uuid4(),
            order_id=uuid.uuid4(),
            status="queued",
            material="PLA",
            quantity=1,
            model_id=uuid.uuid4(),
            model_sha256="a" * 64,
            volume_cm3=8.0,
            printer=None,
            trace_headers={},
            created_at=T0,
        )
        self.jobs.jobs[job.id] = job
        return job

    def printing_job(self, printer: str, started: datetime, lease: datetime | None) -> Job:
        job = self.queued_job()
        job.status, job.printer, job.started_at = "in_production", printer, started
        held = self.jobs.printers[printer]
        held.status, held.current_job_id, held.lease_expires_at = "busy", job.id, lease
        return job

    def events(self, routing_key: str) -> list[EventPayload]:
        return [payload for payload in self.published if payload.routing_key == routing_key]


class FakeFiles:
    def __init__(self, world: World, error: Exception | None = None) -> None:
        self._world = world
        self._error = error
        self.open_units_seen: list[int] = []

    async def fetch_and_verify(self, model_id: uuid.UUID, expected_sha256: str) -> int:
        self.open_units_seen.append(self._world.open_units)
        if self._error is not None:
            raise self._error
        return 684


def handlers_for(
    world: World, files: FakeFiles | None = None, clock: Clock | None = None
) -> tuple[MesHandlers, MesMetrics]:
    metrics = MesMetrics(CollectorRegistry())
    handlers = MesHandlers(
        world,
        files or FakeFiles(world),
        TIMES,
        metrics,
        lease_s=LEASE_S,
        retry=RetryPolicy(attempts=4, first_delay_s=0.001, max_delay_s=0.002),
        clock=clock or Clock(),
    )
    return handlers, metrics


async def test_starting_a_job_checks_its_model_with_no_transaction_open() -> None:
    world = World()
    files = FakeFiles(world)
    handlers, _ = handlers_for(world, files)
    job = world.queued_job()

    view = await handlers.start_job(job.id, "printer-2")

    assert files.open_units_seen == [0]
    assert view.status is JobStatus.IN_PRODUCTION and view.printer == "printer-2"
    printer = world.jobs.printers["printer-2"]
    assert (printer.status, printer.current_job_id) == ("busy", job.id)
    # Started through the API: the printer is driven from outside, no lease to run out.
    assert printer.lease_expires_at is None
    (started,) = world.events("production.started")
    assert started.data() == {"job_id": str(job.id), "printer": "printer-2"}


async def test_a_corrupt_model_fails_the_job_and_gives_the_printer_back() -> None:
    world = World()
    files = FakeFiles(world, InvalidModel("sha256 does not match"))
    handlers, _ = handlers_for(world, files)
    job = world.queued_job()

    with pytest.raises(InvalidModel, match="model check failed"):
        await handlers.start_job(job.id)

    assert (job.status, job.printer) == ("failed", None)
    assert all(
        p.status == "idle" and p.current_job_id is None for p in world.jobs.printers.values()
    )
    (failed,) = world.events("production.failed")
    assert isinstance(failed, ProductionFailed)
    assert failed.printer is None and "sha256" in failed.reason


async def test_an_unreachable_file_storage_keeps_the_job_queued_and_the_printer_idle() -> None:
    world = World()
    handlers, _ = handlers_for(world, FakeFiles(world, DependencyFailed("files is down")))
    job = world.queued_job()

    with pytest.raises(DependencyFailed):
        await handlers.start_job(job.id, "printer-1")

    assert (job.status, job.printer) == ("queued", None)
    assert world.jobs.printers["printer-1"].status == "idle"
    assert world.published == []


async def test_a_job_held_for_a_printer_cannot_be_started_twice() -> None:
    world = World()
    handlers, _ = handlers_for(world)
    job = world.queued_job()
    job.printer = "printer-1"  # reserved: its model is being checked elsewhere
    with pytest.raises(Conflict, match="being started"):
        await handlers.start_job(job.id, "printer-2")


async def test_the_sweep_fails_a_print_whose_process_died_and_frees_its_printer() -> None:
    world = World(printers=3)
    clock = Clock()
    handlers, metrics = handlers_for(world, clock=clock)
    dead = world.printing_job("printer-1", started=T0, lease=T0 + timedelta(seconds=LEASE_S))
    alive = world.printing_job("printer-2", started=T0, lease=T0 + timedelta(seconds=60))
    external = world.printing_job("printer-3", started=T0, lease=None)

    await handlers.reconcile()
    assert dead.status == "in_production"  # its lease has not run out yet
    clock.advance(LEASE_S + 1)
    await handlers.reconcile()

    assert (dead.status, dead.reason) == ("failed", RESTARTED_MID_PRINT)
    assert world.jobs.printers["printer-1"].status == "idle"
    assert world.events("production.failed") == [
        ProductionFailed(
            order_id=dead.order_id, job_id=dead.id, reason=RESTARTED_MID_PRINT, printer="printer-1"
        )
    ]
    # A live lease and a printer driven from outside are none of the sweep's business.
    assert alive.status == external.status == "in_production"
    assert metrics.recovered.labels("failed")._value.get() == 1


async def test_the_sweep_leaves_the_fleets_own_printers_to_resume_their_prints() -> None:
    world = World()
    clock = Clock()
    handlers, _ = handlers_for(world, clock=clock)
    job = world.printing_job("printer-1", started=T0, lease=T0)
    clock.advance(1)
    await handlers.reconcile(frozenset({"printer-1", "printer-2"}))
    assert job.status == "in_production"


async def test_a_printer_resumes_the_print_its_dead_process_left_for_the_time_left() -> None:
    world = World()
    clock = Clock()
    handlers, metrics = handlers_for(world, clock=clock)
    job = world.printing_job("printer-1", started=T0, lease=T0 + timedelta(seconds=LEASE_S))

    clock.advance(1)
    assert await handlers.next_print("printer-1") is None  # its lease still runs
    clock.advance(LEASE_S)
    ticket = await handlers.next_print("printer-1")

    assert ticket is not None and ticket.resumed and ticket.job_id == job.id
    assert ticket.duration_s == 0.0  # 4 s expected, 11 s gone: it is done
    printer = world.jobs.printers["printer-1"]
    assert printer.lease_expires_at == clock.now + timedelta(seconds=LEASE_S)
    await handlers.finish_print(job.id, None)
    assert job.status == "completed" and printer.status == "idle"
    assert metrics.recovered.labels("resumed")._value.get() == 1


async def test_a_printer_held_while_a_dead_process_checked_the_model_is_released() -> None:
    world = World()
    clock = Clock()
    handlers, _ = handlers_for(world, clock=clock)
    job = world.queued_job()
    held = world.jobs.printers["printer-2"]
    job.printer, held.status, held.current_job_id, held.lease_expires_at = (
        held.name,
        "busy",
        job.id,
        T0,
    )

    clock.advance(1)
    await handlers.reconcile()

    assert [job.status, job.printer] == ["queued", None]
    assert [held.status, held.current_job_id] == [PrinterStatus.IDLE.value, None]


async def test_a_fleet_printer_takes_the_oldest_job_and_prints_it_under_a_lease() -> None:
    world = World()
    files = FakeFiles(world)
    handlers, _ = handlers_for(world, files)
    job = world.queued_job()

    ticket = await handlers.next_print("printer-2")

    assert ticket is not None and not ticket.resumed and ticket.duration_s == 4.0
    assert files.open_units_seen == [0]
    assert job.status == "in_production"
    assert world.jobs.printers["printer-2"].lease_expires_at is not None


async def test_the_end_of_a_print_is_retried_through_a_database_outage() -> None:
    world = World()
    handlers, metrics = handlers_for(world)
    job = world.printing_job("printer-1", started=T0, lease=T0)
    world.outages = 2

    await handlers.finish_print(job.id, None)

    assert job.status == "completed"
    assert world.events("production.completed")
    assert metrics.database_retries._value.get() == 2


async def test_a_database_outage_past_the_last_attempt_leaves_the_job_recoverable() -> None:
    world = World()
    handlers, _ = handlers_for(world)
    job = world.printing_job("printer-1", started=T0, lease=T0)
    world.outages = 10

    with pytest.raises(ConnectionRefusedError):
        await handlers.finish_print(job.id, "nozzle clog")

    assert job.status == "in_production"  # its lease runs out: resumed or failed later
    assert world.published == []


async def test_a_cancelled_job_is_not_finished_by_its_printer() -> None:
    world = World()
    handlers, _ = handlers_for(world)
    job = world.printing_job("printer-1", started=T0, lease=T0)
    job.status = "cancelled"
    await handlers.finish_print(job.id, None)
    assert job.status == "cancelled"


def test_only_errors_of_an_unreachable_database_are_retried() -> None:
    assert is_database_outage(ConnectionRefusedError(111, "refused"))
    assert is_database_outage(TimeoutError())
    assert not is_database_outage(ValueError("a bug"))
    assert not is_database_outage(Conflict("already completed"))
    assert RetryPolicy(attempts=5, first_delay_s=1, max_delay_s=3).delays() == [1, 2, 3, 3]


def test_a_print_is_late_by_its_share_of_the_expected_time_never_less_than_a_second() -> None:
    assert overrun_ratio(elapsed_s=12, expected_s=4) == 3.0
    assert overrun_ratio(elapsed_s=2, expected_s=0.2) == 2.0
    assert not lease_expired(None, T0)
    assert lease_expired(T0, T0) and not lease_expired(T0 + timedelta(seconds=1), T0)
