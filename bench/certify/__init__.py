"""Certification: the batched engine (engine.py), the sequential and one-shot certifiers of probabilistic
robustness it runs (rules/, one module per certifier, discovered), randomized smoothing (smoothing.py)
and interval bound propagation (ibp.py, deterministic guarantees). PR estimates: bench.pr.estimate."""
