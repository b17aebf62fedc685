"""The plan: a suite's grid of cells (bench.plan.grid), the cell types (bench.plan.cells: what a cell is,
its id and how its model is had), and the time estimate of a plan (bench.plan.estimate)."""
