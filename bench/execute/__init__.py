"""Execution: computing one cell (bench.execute.compute: training, registering an external model,
evaluating), the executors that run a plan (local, cluster: Ray), the training engine (train), external
models' loading (external) and the progress lines (progress)."""
