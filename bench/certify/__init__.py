"""Probabilistic robustness and its certification: PR estimates, sequential and one-shot certifiers of
probabilistic robustness, randomized smoothing, and IBP bounds."""
