"""Certification: deterministic and probabilistic guarantees about a trained model's predictions."""
