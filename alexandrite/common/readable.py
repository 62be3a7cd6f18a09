"""Times and durations as a person reads them, on support pages and in notifications:
``06:56:37``, ``4 h 10 min``, ``yes``."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["clock", "duration", "ended_stage", "moment", "yes_no"]

# Where an order was when it ended, by the status it left, as support's sentences say it
# ("Failed in production", "Rejected in review"): the console's verdict and the notifier's.
_STAGE_OF_STATUS = {
    "queued": "in production",
    "in_production": "in production",
    "approved": "in production",
    "in_review": "in review",
    "submitted": "in review",
    "created": "before submission",
}


def ended_stage(previous_status: str) -> str:
    """``in production`` for an order that ended after ``queued``; ``in <status>`` otherwise."""
    return _STAGE_OF_STATUS.get(previous_status, f"in {previous_status}")


def duration(seconds: float | None) -> str:
    """``0.4 s``, ``12 s``, ``3 min 5 s``, ``4 h 10 min``, ``2 d 3 h``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    seconds = max(0.0, float(seconds))
    if seconds < 10:
        return f"{seconds:.1f} s" if seconds >= 0.1 else f"{seconds * 1000:.0f} ms"
    whole = round(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{secs} s"


def clock(at: datetime) -> str:
    """``06:56:37`` (UTC), the time of day as the verdict says it."""
    return at.astimezone(UTC).strftime("%H:%M:%S")


def moment(at: datetime | None, now: datetime | None = None) -> str:
    """``06:56:37`` today, else ``2026-11-28 06:56:37``, always UTC and labelled so."""
    if at is None:
        return "-"
    at = at.astimezone(UTC)
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    return f"{clock(at)} UTC" if at.date() == today else at.strftime("%Y-%m-%d %H:%M:%S UTC")


def yes_no(value: object) -> str:
    return "yes" if value else "no"
