"""Attack registry and adapter.

Every attack class that torchattacks ships is registered under torchattacks' own name, plus the named
variants the papers' tables use (PGD-20, PGD-100, CWinf; bench.attacks.variants). The threat-model table
(bench.attacks.threat) turns a dataset's budget into each attack's parameters; a suite may override any
of them. ``run_attack`` (bench.attacks.run) attacks only the clean-correct samples and measures, per
sample, the adversarial prediction and the perturbation's Linf, L2 and L0 norms.
"""
from bench.attacks._base import AttackInfo, ATTACKS, signature_defaults  # noqa: F401 (public)
from bench.registry import import_all

import_all(__name__, __path__)  # every module registers itself
