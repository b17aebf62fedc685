"""Every shipped suite and model card validates."""
from __future__ import annotations

from pathlib import Path

import pytest

from bench.suite.cards import REPO_MODELS, load_card
from bench.suite.config import load_suite
from bench.plan.grid import plan

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("path", sorted((ROOT / "suites").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_suite_validates(path):
    suite = load_suite(path)
    trains, evals = plan(suite)
    assert trains and evals
    assert len({c.id for c in evals}) == len(evals)  # no two cells collide


@pytest.mark.parametrize("path", sorted(REPO_MODELS.glob("*.yaml")), ids=lambda p: p.name)
def test_model_card_resolves_for_every_dataset(path):
    from bench.suite.cards import resolve_training

    card = load_card(path.stem, [REPO_MODELS], str(path), "card")
    assert card.paper, "every card names its paper"
    for ds in card.datasets:
        cfg = resolve_training(card, {}, ds, str(path))
        assert cfg["epochs"] >= 1 and cfg["batch_size"] >= 1
