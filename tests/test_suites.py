"""Every shipped suite and model card validates."""
from __future__ import annotations

from pathlib import Path

import pytest

from bench.cards import REPO_MODELS, load_card
from bench.config import load_suite
from bench.grid import plan

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("path", sorted((ROOT / "suites").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_suite_validates(path):
    suite = load_suite(path)
    trains, evals = plan(suite)
    assert trains and evals
    assert len({c.id for c in evals}) == len(evals)  # no two cells collide


@pytest.mark.parametrize("path", sorted(REPO_MODELS.glob("*.yaml")), ids=lambda p: p.name)
def test_model_card_resolves_for_every_dataset(path):
    from bench.cards import resolve_training
    from bench.config import RecipeSpec

    card = load_card(path.stem, [REPO_MODELS], str(path), "card")
    assert card.paper, "every card names its paper"
    for ds in card.node.get("datasets", {}):
        cfg = resolve_training(RecipeSpec(card.name, card, "{}", str(path)), ds)
        assert cfg["epochs"] >= 1 and cfg["batch_size"] >= 1
