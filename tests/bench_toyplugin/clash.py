"""A plugin whose attack name clashes with bench's own PGD."""
from bench.attacks import ATTACKS, AttackInfo

ATTACKS.add("PGD", AttackInfo("PGD", None, "linf", {}))
