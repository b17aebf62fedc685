"""The suite and its model cards: a suite file read into a validated, frozen ``Suite`` (bench.suite.config),
every training config and evaluation resolved once, before anything runs.

yamlio (typed YAML with line numbers) -> config (the suite) -> cards (model cards and training settings),
models (`models:` entries, external models), plugins (modules that extend the registries).
"""
