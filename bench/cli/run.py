"""`bench run` and `bench validate`: a suite read, checked before anything is written, planned and run (or
estimated, or listed with --dry-run)."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from bench.cli.results import gc_folder
from bench.errors import UserError

DEFAULT_SUITE = "suites/quickstart.yaml"


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
        raise UserError("--executor ray needs Ray: pip install 'robustness-bench[ray]' "
                        "(or pip install 'ray[default]')") from None
    from bench.execute.cluster import resolve

    res = dict(suite.resources)
    gpus = args.gpus_per_task if args.gpus_per_task is not None else res.get("gpus_per_task")
    cpus = args.cpus_per_task if args.cpus_per_task is not None else res.get("cpus_per_task")
    return resolve(args.device, gpus, cpus)


def _out_dir(args, suite) -> Path:
    out = Path(args.out or Path("results") / suite.name)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a folder")
    return out


def _preflight(suite, trains, evals, root: str | None) -> None:
    """What can fail before anything runs, checked before anything is written: every dataset's files are
    where its loader looks (not read), and every model trained elsewhere loads and takes a test batch."""
    from bench.data import check_installed
    from bench.execute.compute import check_all

    for ds in suite.datasets:
        check_installed(ds.name, root, ds.download)
    check_all(trains, evals, root)


def _model_cells(trains, out: Path | None = None) -> str:
    """'5 model cells (1 trained by bench, 4 trained elsewhere; 4 to run)': what producing them does."""
    made = {"train": "trained by bench", "load": "trained elsewhere"}
    counts = [f"{sum(c.action == a for c in trains)} {words}" for a, words in made.items()
              if any(c.action == a for c in trains)]
    todo = f"; {sum(not c.done(out) for c in trains)} to run" if out is not None else ""
    return f"{len(trains)} model cells ({', '.join(counts)}{todo})"


def _note(line: str) -> None:
    print(line, file=sys.stderr)


def cmd_run(args) -> int:
    from bench.execute import settings
    from bench.execute.local import run_local
    from bench.plan.grid import plan
    from bench.results import runfile
    from bench.results.integrity import own_folder
    from bench.suite.config import load_suite

    suite = load_suite(args.suite)
    trains, evals = plan(suite)
    out = _out_dir(args, suite)
    own_folder(out)  # nothing read or written through a symbolic link inside the results folder
    executor = _executor(args, suite)
    device = executor[0] if executor else settings.resolve_device(args.device)
    if args.workers is not None and not args.estimate:
        raise UserError("--workers applies to --estimate only (the Ray executor uses every worker it has)")
    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers must be at least 1, got {args.workers}")
    with settings.applied(suite.threads, suite.deterministic, _note):
        _preflight(suite, trains, evals, args.data_root)  # a missing dataset or a bad model: one line, nothing written
        if args.estimate:
            from bench.plan.estimate import estimate_run

            print(estimate_run(trains, evals, out, device, args.data_root, args.workers or 1))
            if not args.dry_run:
                return 0
        if args.dry_run:
            todo_e = sum(not c.done(out) for c in evals)
            print(f"suite {suite.name}: {_model_cells(trains, out)}, {len(evals)} eval cells ({todo_e} to run) -> {out}")
            for c in trains:
                print(f"  {c.action:<5} {c.id} {c.dataset} {c.recipe} ({c.method}, {c.arch}) seed {c.seed}")
            for c in evals:
                print(f"  eval  {c.id} {c.train.dataset} {c.train.recipe} seed {c.train.seed} {c.name}")
            return 0
        recorded = settings.in_effect(device)
        if executor:  # each task applies the suite's settings (bench.execute.cluster)
            recorded.update(threads=suite.threads or max(1, int(executor[1].cpus)), interop_threads=suite.threads,
                            deterministic=suite.deterministic)
        info = runfile.record(suite, trains, evals, device, "ray" if executor else "local", recorded)
        runfile.write(out, info)  # first: reports know the current cells, done or not
        start = time.perf_counter()
        with progress_board(args, out):
            if executor:
                from bench.execute.cluster import run_ray

                counts = run_ray(trains, evals, out, device, args.data_root, executor[1], args.address,
                                 plugins=suite.plugins, execution=(suite.threads, suite.deterministic))
            else:
                counts = run_local(trains, evals, out, device, args.data_root, not args.quiet and sys.stderr.isatty())
    info["seconds"] = time.perf_counter() - start
    info["counts"] = counts
    runfile.write(out, info)
    made = "trained" if all(c.action == "train" for c in trains) else "trained or loaded"
    print(f"done in {info['seconds']:.1f}s: {made} {counts['trained']} (skipped {counts['train_skipped']}), "
          f"evaluated {counts['evaluated']} (skipped {counts['eval_skipped']}) -> {out}")
    if args.prune:
        gc_folder(out)
    return 0


def progress_board(args, out: Path):
    """Progress lines on stderr when it is not a terminal (and not --quiet); --log FILE (relative: inside
    the results folder) gets them, and every warning, too. See bench.execute.progress."""
    from bench.execute import progress
    from bench.results.integrity import refuse_links

    log = None
    if args.log:
        log = Path(args.log) if Path(args.log).is_absolute() else out / args.log
        refuse_links(out, log)
        log.parent.mkdir(parents=True, exist_ok=True)
    return progress.board(lines=not args.quiet and not sys.stderr.isatty(), log_file=log)


def cmd_validate(args) -> int:
    from bench.suite.config import load_suite
    from bench.plan.grid import plan

    suite = load_suite(args.suite)
    trains, evals = plan(suite)
    _preflight(suite, trains, evals, args.data_root)
    print(f"{args.suite}: ok ({len(suite.datasets)} datasets, {len(suite.recipes)} recipes, "
          f"{len(suite.models)} external models, {_model_cells(trains)}, {len(evals)} eval cells)")
    return 0


