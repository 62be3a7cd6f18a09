"""The CRM's domain: the price of a model, the order of statuses, the auto-approval policy."""

from __future__ import annotations

from decimal import Decimal

import pytest

from alexandrite.crm.domain import (
    NOT_WATERTIGHT,
    ModelFacts,
    Pricing,
    ReviewStatus,
    UnknownMaterial,
    Unpriceable,
    auto_decision,
    can_cancel,
    is_forward,
)
from alexandrite.crm.settings import Settings

PRICING = Pricing(
    rates={
        "PLA": Decimal("0.08"),
        "PETG": Decimal("0.10"),
        "ABS": Decimal("0.09"),
        "resin": Decimal("0.25"),
    },
    setup_fee=Decimal("5.00"),
)


def solid(volume_cm3: float) -> ModelFacts:
    return ModelFacts(sha256="0" * 64, triangles=12, volume_cm3=volume_cm3, watertight=True)


@pytest.mark.parametrize(
    ("volume_cm3", "material", "quantity", "expected"),
    [
        (10.0, "PLA", 1, "5.80"),  # 10 × 0.08 + 5
        (10.0, "PETG", 1, "6.00"),
        (10.0, "ABS", 2, "6.80"),  # 10 × 0.09 × 2 + 5
        (10.0, "resin", 3, "12.50"),
        (0.0, "PLA", 1, "5.00"),  # the setup fee alone
        (1000.0, "PLA", 1000, "80005.00"),
        # Half a cent rounds up: 0.0625 × 0.08 = 0.005.
        (0.0625, "PLA", 1, "5.01"),
        (0.0624, "PLA", 1, "5.00"),
        # A float volume is priced at its decimal repr, not its binary expansion.
        (8.0 / 3.0, "resin", 1, "5.67"),
    ],
)
def test_the_price_is_volume_times_rate_times_quantity_plus_setup_fee(
    volume_cm3: float, material: str, quantity: int, expected: str
) -> None:
    price = PRICING.quote(solid(volume_cm3), material, quantity)
    assert price == Decimal(expected)
    assert price.as_tuple().exponent == -2


def test_a_model_that_is_not_watertight_cannot_be_priced() -> None:
    facts = ModelFacts(sha256=None, triangles=10, volume_cm3=None, watertight=False)
    with pytest.raises(Unpriceable, match="not watertight"):
        PRICING.quote(facts, "PLA", 1)


def test_a_volume_reported_for_an_open_mesh_is_not_trusted() -> None:
    facts = ModelFacts(sha256=None, triangles=10, volume_cm3=3.0, watertight=False)
    with pytest.raises(Unpriceable):
        PRICING.quote(facts, "PLA", 1)


def test_a_material_without_a_rate_cannot_be_priced() -> None:
    with pytest.raises(UnknownMaterial, match="nylon"):
        PRICING.quote(solid(1.0), "nylon", 1)


def test_unpriceable_is_422_and_unknown_material_is_409() -> None:
    assert Unpriceable("x").status == 422
    assert UnknownMaterial("x").status == 409


def test_model_facts_read_the_storage_answer() -> None:
    facts = ModelFacts.from_model(
        {
            "id": "m",
            "sha256": "ab" * 32,
            "analysis": {"triangles": 12, "volume_cm3": 1.5, "watertight": True},
        }
    )
    assert facts == ModelFacts(sha256="ab" * 32, triangles=12, volume_cm3=1.5, watertight=True)
    assert not ModelFacts.from_model({"analysis": {}}).watertight


def test_the_default_settings_carry_the_documented_rates() -> None:
    settings = Settings()
    assert settings.rates["PLA"] == Decimal("0.08")
    assert settings.rates["resin"] == Decimal("0.25")
    assert settings.setup_fee == Decimal("5.00")
    assert settings.auto_approve is False


@pytest.mark.parametrize(
    ("current", "new", "forward"),
    [
        (ReviewStatus.IN_REVIEW, ReviewStatus.APPROVED, True),
        (ReviewStatus.APPROVED, ReviewStatus.QUEUED, True),
        (ReviewStatus.QUEUED, ReviewStatus.IN_PRODUCTION, True),
        (ReviewStatus.IN_PRODUCTION, ReviewStatus.COMPLETED, True),
        (ReviewStatus.IN_PRODUCTION, ReviewStatus.FAILED, True),
        # A late event never moves an order backwards.
        (ReviewStatus.IN_PRODUCTION, ReviewStatus.QUEUED, False),
        (ReviewStatus.QUEUED, ReviewStatus.QUEUED, False),
        # Nothing leaves a terminal status.
        (ReviewStatus.COMPLETED, ReviewStatus.FAILED, False),
        (ReviewStatus.CANCELLED, ReviewStatus.QUEUED, False),
        (ReviewStatus.REJECTED, ReviewStatus.APPROVED, False),
    ],
)
def test_a_status_only_moves_forward(
    current: ReviewStatus, new: ReviewStatus, forward: bool
) -> None:
    assert is_forward(current, new) is forward


def test_only_a_non_terminal_order_can_be_cancelled() -> None:
    assert can_cancel(ReviewStatus.IN_REVIEW)
    assert can_cancel(ReviewStatus.IN_PRODUCTION)
    for terminal in ("rejected", "completed", "failed", "cancelled"):
        assert not can_cancel(ReviewStatus(terminal))


def test_the_policy_approves_a_quote_within_the_limit() -> None:
    decision = auto_decision(Decimal("20.00"), None, Decimal("100"))
    assert decision.outcome is ReviewStatus.APPROVED


def test_the_policy_without_a_limit_approves_any_quote() -> None:
    assert auto_decision(Decimal("99999.99"), None, None).outcome is ReviewStatus.APPROVED


def test_the_policy_rejects_an_order_without_a_price_and_says_why() -> None:
    decision = auto_decision(None, NOT_WATERTIGHT, Decimal("100"))
    assert decision.outcome is ReviewStatus.REJECTED
    assert decision.reason == "the model is not watertight, so it cannot be printed as a solid"


def test_the_policy_leaves_a_quote_above_the_limit_to_a_manager() -> None:
    decision = auto_decision(Decimal("100.01"), None, Decimal("100"))
    assert decision.outcome is None
    assert "100.01" in decision.reason
