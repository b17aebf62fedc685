"""The `bench` command: run | report | check | list | validate."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from bench.errors import UserError

DEFAULT_SUITE = "suites/quickstart.yaml"


def _device(name: str | None) -> str:
    import torch

    if name in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device is available on this machine (use --device cpu)")
    return name


def _executor(args, suite):
    """None for the local executor; for Ray, (task device, task resources)."""
    if args.executor == "local":
        for flag, value in (("--address", args.address), ("--gpus-per-task", args.gpus_per_task),
                            ("--cpus-per-task", args.cpus_per_task)):
            if value is not None:
                raise UserError(f"{flag} applies to --executor ray only")
        return None
    try:
        import ray  # noqa: F401
    except ImportError:
        raise UserError("--executor ray needs Ray: pip install 'bench[ray]' (or pip install 'ray[default]')") from None
    from bench.ray_executor import resolve

    res = dict(suite.resources)
    gpus = args.gpus_per_task if args.gpus_per_task is not None else res.get("gpus_per_task")
    cpus = args.cpus_per_task if args.cpus_per_task is not None else res.get("cpus_per_task")
    return resolve(args.device, gpus, cpus)


def cmd_run(args) -> int:
    from bench import store
    from bench.config import load_suite
    from bench.grid import plan, run_local

    suite = load_suite(args.suite)
    trains, evals = plan(suite)
    out = Path(args.out or Path("results") / suite.name)
    executor = _executor(args, suite)
    device = executor[0] if executor else _device(args.device)
    if args.estimate:
        from bench.estimate_time import estimate_run

        print(estimate_run(trains, evals, out, device, args.data_root))
        if not args.dry_run:
            return 0
    if args.dry_run:
        todo_t = sum(not store.model_done(out, c.id) for c in trains)
        todo_e = sum(not store.samples_path(out, c.id).exists() for c in evals)
        print(f"suite {suite.name}: {len(trains)} train cells ({todo_t} to run), "
              f"{len(evals)} eval cells ({todo_e} to run) -> {out}")
        for c in trains:
            print(f"  train {c.id} {c.dataset} {c.recipe} ({c.method}, {c.arch}) seed {c.seed}")
        for c in evals:
            print(f"  eval  {c.id} {c.train.dataset} {c.train.recipe} seed {c.train.seed} {c.name}")
        return 0
    run_info = {
        "suite": suite.name, "suite_file": str(suite.file), "description": suite.description,
        "datasets": [vars(d) for d in suite.datasets],
        "recipes": {r.label: {"card": r.card.name, "method": r.card.method, "paper": r.card.paper} for r in suite.recipes},
        "train_cells": [{"id": c.id, "dataset": c.dataset, "recipe": c.recipe, "seed": c.seed, "config": c.config}
                        for c in trains],
        "eval_cells": [{"id": c.id, "train_cell": c.train.id, "evaluation": c.name, "kind": c.kind,
                        "params": c.params} for c in evals],
        "order": {"datasets": [d.name for d in suite.datasets], "recipes": [r.label for r in suite.recipes],
                  "evaluations": list(dict.fromkeys(c.name for c in evals))},
        "device": device, "versions": store.versions(), "git_commit": store.git_commit(),
    }
    run_info["executor"] = "ray" if executor else "local"
    start = time.perf_counter()
    with progress_board(args, out):
        if executor:
            from bench.ray_executor import run_ray

            counts = run_ray(trains, evals, out, device, args.data_root, executor[1], args.address)
        else:
            counts = run_local(trains, evals, out, device, args.data_root, progress=not args.quiet and sys.stderr.isatty())
    run_info["seconds"] = time.perf_counter() - start
    run_info["counts"] = counts
    store.write_json(out / "run.json", run_info)
    print(f"done in {run_info['seconds']:.1f}s: trained {counts['trained']} (skipped {counts['train_skipped']}), "
          f"evaluated {counts['evaluated']} (skipped {counts['eval_skipped']}) -> {out}")
    return 0


def progress_board(args, out: Path):
    """Progress lines on stderr when it is not a terminal (and not --quiet); --log FILE (relative: inside
    the results folder) gets them, and every warning, too. See bench.progress."""
    from bench import progress

    log = None
    if args.log:
        log = Path(args.log) if Path(args.log).is_absolute() else out / args.log
        log.parent.mkdir(parents=True, exist_ok=True)
    return progress.board(lines=not args.quiet and not sys.stderr.isatty(), log_file=log)


def cmd_report(args) -> int:
    from bench.report import load_rows, load_run
    from bench.report.build import render, tables_for

    rows = load_rows(args.results)
    run = load_run(args.results)
    if args.compare_paper:
        from bench.report.paper import compare_table, load_papers

        tables = [compare_table(rows, run, load_papers(args.papers))]
    else:
        tables = tables_for(rows, run, args.table)
    title = f"bench report: {run.get('suite', Path(args.results).name)}"
    if args.out:
        fmt = args.format or {".html": "html", ".tex": "latex", ".md": "md"}.get(Path(args.out).suffix, "md")
        text = render(fmt, tables, title, rows, run, args.ci)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
        print(f"wrote {args.out}")
        return 0
    if args.format or args.compare_paper or args.table:
        sys.stdout.write(render(args.format or "md", tables, title, rows, run, args.ci))
        return 0
    md = render("md", tables, title, rows, run, args.ci)
    results = Path(args.results)
    (results / "report.md").write_text(md)
    (results / "report.html").write_text(render("html", tables, title, rows, run))
    sys.stdout.write(md)
    print(f"wrote {results / 'report.md'} and {results / 'report.html'}")
    return 0


def cmd_check(args) -> int:
    from bench import check
    from bench.report import load_rows

    rows = load_rows(args.results)
    if args.write:
        n = check.write_reference(rows, args.reference, args.tol)
        print(f"wrote {n} metrics to {args.reference}")
        return 0
    table = check.compare(rows, check.read_reference(args.reference), args.tol)
    print(check.report(table))
    return 0 if table["ok"].all() else 1


def cmd_list(args) -> int:
    from bench.listing import listing

    print(listing(args.what, args.pattern))
    return 0


def cmd_validate(args) -> int:
    from bench.config import load_suite
    from bench.grid import plan

    suite = load_suite(args.suite)
    trains, evals = plan(suite)
    print(f"{args.suite}: ok ({len(suite.datasets)} datasets, {len(suite.recipes)} recipes, "
          f"{len(trains)} train cells, {len(evals)} eval cells)")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench", description="Robustness benchmarking harness for image classifiers.")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="train what is missing, evaluate, write per-sample parquet")
    r.add_argument("suite", nargs="?", default=DEFAULT_SUITE)
    r.add_argument("--out", help="results folder (default results/<suite name>)")
    r.add_argument("--data-root", help="where datasets are read from (default $BENCH_DATA or ./data)")
    r.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    r.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="local: cells in order in this process (default); ray: cells as Ray tasks")
    r.add_argument("--address", help="Ray cluster address, e.g. ray://head:10001 or auto (default: $RAY_ADDRESS, else a new local Ray instance)")
    r.add_argument("--gpus-per-task", type=float, help="GPUs each Ray task asks for (fractions share a GPU)")
    r.add_argument("--cpus-per-task", type=float, help="CPUs each Ray task asks for (default 1)")
    r.add_argument("--dry-run", action="store_true", help="show the cells and what is left to run; write nothing")
    r.add_argument("--estimate", action="store_true", help="time a few training steps and evaluation inputs of "
                   "each distinct setting on the device and print the estimated hours per cell; write nothing")
    r.add_argument("--quiet", action="store_true", help="no progress bars or progress lines on stderr")
    r.add_argument("--log", metavar="FILE", help="also write the progress lines and every warning to FILE "
                   "(a relative path is inside the results folder)")
    r.set_defaults(fn=cmd_run)
    rep = sub.add_parser("report", help="render tables from a results folder")
    rep.add_argument("results")
    rep.add_argument("--format", choices=("md", "html", "latex"))
    rep.add_argument("--out", help="write to this file instead of stdout")
    rep.add_argument("--table", action="append", help="a table layout (repeatable; default: those the rows allow; "
                     "`bench list tables`)")
    rep.add_argument("--ci", action="store_true", help="print each cell's 95%% interval in md/latex (html always)")
    rep.add_argument("--compare-paper", action="store_true",
                     help="show each reproduced number beside the published one (results/reference/papers)")
    rep.add_argument("--papers", help="folder of published-number CSVs (default results/reference/papers)")
    rep.set_defaults(fn=cmd_report)
    chk = sub.add_parser("check", help="compare the results' metrics with a reference file; exit 1 if any moved")
    chk.add_argument("results")
    chk.add_argument("--reference", required=True, help="reference CSV (e.g. results/reference/quickstart.csv)")
    chk.add_argument("--tol", help="tolerance for every metric: absolute (0.004) or in samples (2s); "
                     "default the file's tol column, else 1s")
    chk.add_argument("--write", action="store_true", help="write the results' metrics to the reference file instead")
    chk.set_defaults(fn=cmd_check)
    ls = sub.add_parser("list", help="list registered datasets, archs, recipes, attacks, evaluations, tables")
    ls.add_argument("what", choices=("datasets", "archs", "recipes", "attacks", "evaluations", "tables"))
    ls.add_argument("pattern", nargs="?", default="*")
    ls.set_defaults(fn=cmd_list)
    v = sub.add_parser("validate", help="check a suite file and its model cards; write nothing")
    v.add_argument("suite")
    v.set_defaults(fn=cmd_validate)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.fn(args)
    except UserError as e:
        print(f"bench: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `bench list attacks | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("bench: interrupted; finished cells are kept, re-run to resume", file=sys.stderr)
        return 130
