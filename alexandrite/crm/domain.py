"""The review of an order: its statuses, its price and the auto-approval policy.

No I/O here. The status names are the contract of DESIGN.md §2; the CRM knows an order from the
moment it is submitted, and afterwards mirrors what the MES and the Shop say about it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from alexandrite.common.errors import Conflict, InvalidModel
from alexandrite.common.order_status import TERMINAL, OrderStatus, can_cancel, is_forward

__all__ = [
    "AUTO_APPROVAL",
    "NOT_WATERTIGHT",
    "TERMINAL",
    "Decision",
    "ModelFacts",
    "Pricing",
    "ReviewStatus",
    "UnknownMaterial",
    "Unpriceable",
    "auto_decision",
    "can_cancel",
    "is_forward",
]

AUTO_APPROVAL = "auto-approval"
NOT_WATERTIGHT = "the model is not watertight, so it cannot be printed as a solid"
_CENTS = Decimal("0.01")


# The CRM follows the order through the same statuses, from "submitted" on.
ReviewStatus = OrderStatus


class Unpriceable(InvalidModel):
    """The model has no volume (not watertight): only a manager's explicit price will do."""


class UnknownMaterial(Conflict):
    """The order's material has no rate in the configuration, so no quote can be computed."""


@dataclass(frozen=True)
class ModelFacts:
    """What the file storage's analysis says about a model, as far as pricing cares."""

    sha256: str | None
    triangles: int | None
    volume_cm3: float | None
    watertight: bool

    @classmethod
    def from_model(cls, model: Mapping[str, Any]) -> ModelFacts:
        """Read ``{sha256, analysis:{triangles, volume_cm3, watertight}}`` (the storage's view)."""
        analysis = model.get("analysis") or {}
        volume = analysis.get("volume_cm3")
        triangles = analysis.get("triangles")
        return cls(
            sha256=model.get("sha256"),
            triangles=int(triangles) if triangles is not None else None,
            volume_cm3=float(volume) if volume is not None else None,
            watertight=bool(analysis.get("watertight", False)),
        )


@dataclass(frozen=True)
class Pricing:
    rates: Mapping[str, Decimal]
    setup_fee: Decimal
    currency: str = "EUR"

    def quote(self, facts: ModelFacts, material: str, quantity: int) -> Decimal:
        """volume × rate[material] × quantity + setup fee, rounded half-up to cents."""
        if not facts.watertight or facts.volume_cm3 is None:
            raise Unpriceable(NOT_WATERTIGHT)
        rate = self.rates.get(material)
        if rate is None:
            raise UnknownMaterial(f"there is no price rate for the material {material!r}")
        # str() first: the float's shortest repr, not its binary expansion, is what was measured.
        volume = Decimal(str(facts.volume_cm3))
        price = volume * rate * quantity + self.setup_fee
        return price.quantize(_CENTS, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Decision:
    """What the auto-approval policy says: approve, reject, or leave it to a manager (None)."""

    outcome: ReviewStatus | None
    reason: str


def auto_decision(
    price: Decimal | None, unpriceable_reason: str | None, max_price: Decimal | None
) -> Decision:
    """The auto-approval policy: reject what cannot be priced, approve up to ``max_price``.

    An order above the limit is neither approved nor rejected: it waits for a manager, which is
    what a limit on an automatic decision means.
    """
    if price is None:
        return Decision(ReviewStatus.REJECTED, unpriceable_reason or NOT_WATERTIGHT)
    if max_price is not None and price > max_price:
        return Decision(None, f"the quote {price} is above the auto-approval limit {max_price}")
    return Decision(ReviewStatus.APPROVED, "the quote is within the auto-approval policy")
