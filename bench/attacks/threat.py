"""The threat-model table: one place that turns a dataset's budget into every attack's parameters.

The certified-PR paper's Table 9 setting (Linf 8/255 on CIFAR/SVHN, std 0.1 for Gaussian noise,
torchattacks' documented defaults otherwise), generalised to any dataset:

- budget: a norm-bounded attack's budget parameter (``eps``; PIFGSM's ``max_epsilon``) is the dataset's
  budget for the attack's norm (``bench list datasets``): Linf 8/255 on CIFAR/SVHN, 0.3 on MNIST, 0.1 on
  digits; L2 for PGDL2/PGDRSL2 and the L2 versions of APGD/FAB/Square.
- step size: ``alpha`` keeps torchattacks' ratio to the budget (alpha_default * eps / eps_default): eps/4
  for the Linf PGD family (2/255 at 8/255), 1.25 eps for FFGSM (Wong et al. 2020), eps/5 for PGDL2.
- steps, restarts, seeds and everything else: torchattacks' defaults (GN std 0.1 is its default);
  the named variants fix steps (PGD-20, PGD-100, CWinf 30).
- ``n_classes``: the dataset's class count.
- unbounded attacks (CW-L2, DeepFool, EAD, JSMA, OnePixel, Pixle, SparseFool, GN, VANILA) run as they
  are; their rows show the perturbation through linf, l2, l0 and in_budget.

A suite's ``params`` override any entry; overriding the budget alone rescales alpha with it. Integer
parameters (``INT_PARAMS``) take integers only, at least their lowest meaningful value (steps >= 1: a
PGD of 0 or -5 steps would report clean accuracy as robust accuracy); every number is finite.
"""
from __future__ import annotations

from bench.attacks._base import AttackInfo
from bench.errors import UserError


NORMS = {"Linf": "linf", "L2": "l2"}
# Integer parameters of the registered attacks and their lowest value (counts of steps, restarts,
# queries, samples, batch sizes, pixels, classes; seeds from 0).
INT_PARAMS = {
    "steps": 1, "n_restarts": 1, "restarts": 1, "n_queries": 1, "nb_iter": 1, "nb_sample": 1, "max_iterations": 1,
    "binary_search_steps": 1, "eot_iter": 1, "noise_batch_size": 1, "batch_max": 1, "inf_batch": 1,
    "max_batch_size": 1, "popsize": 1, "pixels": 1, "N": 1, "m": 1, "num_iter_set": 1, "len_kernel": 1,
    "n_classes": 2, "seed": 0,
}
# Exceptions to INT_PARAMS for one attack: BIM's steps 0 means its own count, min(255 eps + 4, 1.25 * 255 eps).
LOWEST = {("BIM", "steps"): 0}
# Parameters whose default is an integer but which take any real number (CW's c, margins, scales).
REAL_PARAMS = ("c", "kappa", "lam", "scale", "nsig")


def norm_of(attack: AttackInfo, params: dict) -> str | None:
    """The norm an attack is bounded in with these parameters (APGD, FAB, Square take ``norm``)."""
    return NORMS.get(params["norm"]) if "norm" in params else attack.norm


def threat_params(attack: AttackInfo, info, overrides: dict | None = None, where: str | None = None) -> dict:
    """Resolved keyword arguments for ``attack`` on dataset ``info``."""
    overrides = dict(overrides or {})
    out = dict(attack.defaults)
    if "norm" in out and overrides.get("norm", "Linf") not in NORMS:
        raise UserError(f"norm must be one of {', '.join(NORMS)}, got {overrides['norm']!r}",
                        where, "params.norm")
    norm = norm_of(attack, {**out, **overrides})
    key = attack.budget
    if key and norm:
        out = with_budget(out, key, float(overrides.get(key, info.eps[norm])))
    if "n_classes" in out:
        out["n_classes"] = info.num_classes
    out.update(overrides)
    return out


def with_budget(params: dict, key: str, eps: float) -> dict:
    """``params`` at the budget ``eps`` (the parameter ``key``): a step size ``alpha``, where the attack has
    one, keeps its ratio to the budget. The one place a budget moves the step size: the threat-model table
    (from torchattacks' defaults) and a sweep (from the resolved parameters) both call it."""
    out = dict(params)
    if "alpha" in out and out[key]:
        out["alpha"] = out["alpha"] * eps / out[key]
    out[key] = eps
    return out


def dlr_classes(attack_name: str, params: dict) -> int:
    """How many classes the attack's loss needs: the DLR loss (Croce & Hein 2020) divides by
    z_pi1 - z_pi3 (3 classes); its targeted form by z_pi1 - (z_pi3 + z_pi4)/2 (4 classes)."""
    if attack_name in ("APGDT", "torchattacks.AutoAttack"):
        return 4
    if attack_name == "APGD" and params.get("loss") == "dlr":
        return 3
    return 0


def check_classes(what: str, need: int, info, where: str | None, field: str | None = None) -> None:
    if need and info.num_classes < need:
        raise UserError(f"{what} uses the DLR loss, which needs at least {need} classes; dataset "
                        f"{info.name!r} has {info.num_classes}", where, field)


def check_iterations(what: str, params: dict, where: str | None) -> None:
    """EADEN and EADL1 with ``abort_early`` test for progress every ``max_iterations // 10`` iterations,
    a division by zero inside torchattacks below 10 iterations: refuse those settings up front."""
    if params.get("abort_early") and "max_iterations" in params and params["max_iterations"] < 10:
        raise UserError(f"{what} with abort_early checks its progress every max_iterations // 10 iterations, so "
                        f"max_iterations must be at least 10 (got {params['max_iterations']:g}); "
                        "or set abort_early: false", where, "params.max_iterations")


def describe(attack: AttackInfo) -> str:
    """The table's rule for one attack, for ``bench list attacks``."""
    parts = []
    if attack.budget and attack.norm:
        parts.append(f"{attack.budget}=dataset {attack.norm}")
        if "alpha" in attack.defaults and attack.defaults[attack.budget]:
            parts.append(f"alpha={attack.defaults['alpha'] / attack.defaults[attack.budget]:.3g}*{attack.budget}")
    elif attack.norm is None:
        parts.append("unbounded")
    if "n_classes" in attack.defaults:
        parts.append("n_classes=dataset")
    return ", ".join(parts)
