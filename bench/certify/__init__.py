"""Certification: PR estimates, sequential and one-shot certifiers of probabilistic robustness,
randomized smoothing, and interval bound propagation (deterministic guarantees)."""
