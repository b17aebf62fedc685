"""Probabilistic robustness: vicinities (the neighbourhoods PR is measured over), keyed random streams
(each sample a function of its key alone) and the PR estimate (agreeing samples per input)."""
