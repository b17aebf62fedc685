"""The `bench` command: run | report | check | gc | list | validate."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from bench.errors import UserError
from bench.version import __version__

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
    device = executor[0] if executor else _device(args.device)
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
        _gc(out)
    return 0


SHOWN = 20  # damaged files named one per line; more are counted


def damaged_note(results) -> int:
    """Name on stderr, one line each, the files of the folder's current cells that do not verify (reports and
    checks left them out); their number."""
    from bench.results.folder import damaged

    bad = damaged(results)
    for path, why in bad[:SHOWN]:
        print(f"note: left out {path}: {why}; re-run `bench run` to recompute it", file=sys.stderr)
    if len(bad) > SHOWN:
        print(f"note: left out {len(bad) - SHOWN} more files of {results} that do not verify", file=sys.stderr)
    return len(bad)


def _cells_note(results: str, stale: bool) -> int:
    """Say on stderr which cells of the current suite are not done yet and which files were left out because
    they do not verify (returns their number), and list stale cells' files (those `bench gc` removes: samples
    and models)."""
    from bench.results.folder import cell_files, pending_cells, stale_models

    pending = pending_cells(results)
    if pending:
        names = ", ".join(sorted({c["evaluation"] for c in pending}))
        print(f"note: {len(pending)} eval cells of this suite are not done yet ({names}); "
              f"re-run `bench run` to finish them", file=sys.stderr)
    old, models = cell_files(results, stale=True), stale_models(results)
    if stale:
        for path in old + models:
            print(f"stale: {path}", file=sys.stderr)
    elif old:
        print(f"note: ignoring {len(old)} stale cell files no cell of this suite names "
              "(--stale lists them, `bench gc` removes them)", file=sys.stderr)
    return damaged_note(results)


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


def _recorded_plugins(*folders) -> None:
    """Import the plugins each folder's suite named (bench.suite.plugins.load_recorded): their metric
    declarations shape the tables."""
    from bench.results import runfile
    from bench.suite import plugins

    for folder in folders:
        plugins.load_recorded(folder, runfile.read(folder).get("plugins", []))


def _summary(args) -> int:
    """`bench report DIR [DIR ...] --format json|csv`: the leaderboard frame bench.summary returns."""
    from bench.report.summary import dumps, summary
    from bench.results import atomic

    folders = [args.results, *args.more]
    text = dumps(summary(folders), args.format)
    if args.out:
        atomic.write_text(Path(args.out), text)
        print(f"wrote {args.out}")
    else:
        sys.stdout.write(text)
    return 1 if sum(damaged_note(f) for f in folders) else 0


def cmd_report(args) -> int:
    _recorded_plugins(args.results, *args.more)
    if args.source_label and not args.site:
        raise UserError("--source-label names the results folders on a --site; give --site SITE")
    if args.format in ("json", "csv"):
        return _summary(args)
    if args.more or args.site:  # several folders, or the leaderboard site: bench.report.merge
        from bench.report.merge import report_many

        code = report_many(args)
        return code or (1 if sum([damaged_note(f) for f in (args.results, *args.more)]) else 0)
    from bench.report import load_rows, load_run
    from bench.report.build import render, tables_for
    from bench.results import atomic
    from bench.results.integrity import refuse_links

    rows = load_rows(args.results)
    code = 1 if _cells_note(args.results, args.stale) else 0  # 1: files that do not verify were left out
    run = load_run(args.results)
    if args.compare_paper:
        from bench.report.published import compare_table, load_papers

        tables = [compare_table(rows, run, load_papers(args.papers))]
    else:
        tables = tables_for(rows, run, args.table)
    if args.plots:
        from bench.report.plots import write_plots

        write_plots(Path(args.plots), rows, run)
    title = f"bench report: {run.get('suite', Path(args.results).name)}"
    if args.out:
        fmt = args.format or {".html": "html", ".tex": "latex", ".md": "md"}.get(Path(args.out).suffix, "md")
        text = render(fmt, tables, title, rows, run, args.ci)
        atomic.write_text(Path(args.out), text, root=Path(args.results))
        print(f"wrote {args.out}")
        return code
    if args.format or args.compare_paper or args.table:
        sys.stdout.write(render(args.format or "md", tables, title, rows, run, args.ci))
        return code
    md = render("md", tables, title, rows, run, args.ci)
    results = Path(args.results)
    html = render("html", tables, title, rows, run)
    for name in ("report.md", "report.html"):
        refuse_links(results, results / name)
    atomic.write_text(results / "report.md", md, root=results)
    atomic.write_text(results / "report.html", html, root=results)
    sys.stdout.write(md)
    print(f"wrote {results / 'report.md'} and {results / 'report.html'}")
    return code


def cmd_check(args) -> int:
    from bench.report import check
    from bench.report import load_rows
    from bench.results import runfile

    _recorded_plugins(args.results)
    rows = load_rows(args.results)
    damaged = _cells_note(args.results, args.stale)
    run = runfile.read(args.results)
    if args.write and damaged:
        print("bench: error: files that do not verify were left out: no reference written", file=sys.stderr)
        return 1
    if args.write:
        n = check.write_reference(rows, args.reference, args.tol, run)
        print(f"wrote {n} metrics to {args.reference}")
        return 0
    if args.tol:
        check.parse_tol(args.tol, 1)
    ref = check.read_reference(args.reference)
    table = check.compare(rows, ref, args.tol)
    print(check.report(table, check.settings_note(run, ref)))
    unlisted = check.unlisted(rows, ref)
    if unlisted:
        print(check.unlisted_line(unlisted, args.strict))
    malformed = ref["error"][ref["error"] != ""]
    for error in malformed:
        print(f"bench: error: {error}", file=sys.stderr)
    failed = not table["ok"].all() or damaged or (unlisted and args.strict)
    return 2 if len(malformed) else 1 if failed else 0


def _gc(out: Path) -> None:
    """Remove stale cells' files and free locks; never through a linked folder, never a link (counted)."""
    from bench.results import locks, partial
    from bench.results.folder import cell_files, stale_models
    from bench.results.integrity import own_folder

    own_folder(out)
    # chunks and training states kept for a resume that no cell of the suite will make (bench.results.partial)
    left = partial.stale(out)
    partial.remove(left)
    free = [p for p in sorted((out / ".locks").glob("*.lock")) if not locks.locked(out, p.stem)]
    found = cell_files(out, stale=True) + stale_models(out) + free  # free locks: left by killed runs
    files = [p for p in found if not p.is_symlink()]
    for path in files:
        path.unlink()
    links = len(found) - len(files)
    files += left
    print(f"{out}: removed {len(files)} files no cell of the current suite names" if files
          else f"{out}: nothing stale")
    if links:
        print(f"{out}: left {links} symbolic links alone (bench removes only its own files)")


def cmd_gc(args) -> int:
    _gc(Path(args.results))
    return 0


def cmd_list(args) -> int:
    from bench.listing import listing

    print(listing(args.what, args.pattern, args.plugin))
    return 0


def cmd_validate(args) -> int:
    from bench.suite.config import load_suite
    from bench.plan.grid import plan

    suite = load_suite(args.suite)
    trains, evals = plan(suite)
    _preflight(suite, trains, evals, args.data_root)
    print(f"{args.suite}: ok ({len(suite.datasets)} datasets, {len(suite.recipes)} recipes, "
          f"{len(suite.models)} external models, {_model_cells(trains)}, {len(evals)} eval cells)")
    return 0


EXAMPLES = {
    "bench": """examples:
  bench run                          # suites/quickstart.yaml: train, evaluate -> results/quickstart
  bench report results/quickstart    # the tables; also results/quickstart/report.{md,html}
  bench list attacks 'PGD*'          # what a suite can name
  bench validate suites/mine.yaml    # check a suite, its cards, datasets and models; write nothing""",
    "run": """examples:
  bench run suites/quickstart.yaml
  bench run suites/mine.yaml --dry-run      # the cells and what is left to run
  bench run suites/fashion.yaml --estimate --device cuda
  bench run suites/fashion.yaml --executor ray --address auto --gpus-per-task 0.5""",
    "report": """examples:
  bench report results/quickstart
  bench report results/quickstart --table leaderboard --format latex --out table.tex
  bench report results/a results/b --site site/   # several submissions, a static leaderboard site""",
    "check": """examples:
  bench check results/quickstart --reference results/reference/quickstart.csv
  bench check results/quickstart --reference ref.csv --write   # record the current metrics""",
    "gc": """examples:
  bench gc results/quickstart""",
    "list": """examples:
  bench list datasets
  bench list attacks 'PGD*'
  bench list recipes --plugin mypkg.bench_plugins""",
    "validate": """examples:
  bench validate suites/quickstart.yaml
  bench validate suites/mart-vs-authors.yaml --data-root /data""",
}


def _sub(sub, name: str, help_text: str):
    return sub.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".",
                          epilog=EXAMPLES[name], formatter_class=argparse.RawDescriptionHelpFormatter)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench", description="Robustness benchmarking harness for image classifiers.",
                                epilog=EXAMPLES["bench"], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"bench {__version__}",
                   help="print bench's version and exit")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    r = _sub(sub, "run", "train what is missing, evaluate, write per-sample parquet")
    r.add_argument("suite", nargs="?", default=DEFAULT_SUITE, help=f"the suite file (default {DEFAULT_SUITE})")
    r.add_argument("--out", help="results folder (default results/<suite name>)")
    r.add_argument("--data-root", help="where datasets are read from (default $BENCH_DATA or ./data)")
    r.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="where models run (default auto: cuda when there is one)")
    r.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="local: cells in order in this process (default); ray: cells as Ray tasks")
    r.add_argument("--address", help="Ray cluster address, e.g. ray://head:10001 or auto (default: $RAY_ADDRESS, "
                   "else a new local Ray instance)")
    r.add_argument("--gpus-per-task", type=float, help="GPUs each Ray task asks for (fractions share a GPU)")
    r.add_argument("--cpus-per-task", type=float, help="CPUs each Ray task asks for (default 1)")
    r.add_argument("--dry-run", action="store_true", help="check the datasets and external models, show the cells "
                   "and what is left to run; write nothing")
    r.add_argument("--estimate", action="store_true", help="time a few training steps and evaluation inputs of "
                   "each distinct setting on the device and print the estimated hours per cell; write nothing")
    r.add_argument("--workers", type=int, metavar="N", help="with --estimate: also how the run divides over N "
                   "workers (eval cells spread by chunk, as --executor ray runs them)")
    r.add_argument("--quiet", action="store_true", help="no progress bars or progress lines on stderr")
    r.add_argument("--log", metavar="FILE", help="also write the progress lines and every warning to FILE "
                   "(a relative path is inside the results folder)")
    r.add_argument("--prune", action="store_true", help="afterwards remove files no cell of the suite names (bench gc)")
    r.set_defaults(fn=cmd_run)
    rep = _sub(sub, "report", "render tables from a results folder")
    rep.add_argument("results", help="a results folder (bench run's --out)")
    rep.add_argument("more", nargs="*", help="more results folders, merged into one report (one per submission)")
    rep.add_argument("--site", metavar="DIR", help="write a static leaderboard site (index per dataset and threat "
                     "model, a page per entry) to this folder")
    rep.add_argument("--source-label", action="append", metavar="TEXT",
                     help="with --site: show the results folder as TEXT instead of its path (repeatable: one per "
                     "folder, in order); without it, paths are relative to the site folder")
    rep.add_argument("--format", choices=("md", "html", "latex", "json", "csv"),
                     help="md, html, latex: the tables (default md; with --out: from the file's suffix); json, csv: "
                     "the leaderboard as data (bench.summary's columns)")
    rep.add_argument("--plots", metavar="DIR", help="also write each plot as a standalone SVG and PDF file to DIR")
    rep.add_argument("--out", metavar="FILE", help="write to this file instead of stdout")
    rep.add_argument("--table", action="append", help="a table layout (repeatable; default: those the rows allow; "
                     "`bench list tables`)")
    rep.add_argument("--ci", action="store_true", help="print each cell's 95%% interval in md/latex (html always)")
    rep.add_argument("--compare-paper", action="store_true",
                     help="show each reproduced number beside the published one (results/reference/papers)")
    rep.add_argument("--papers", metavar="DIR", help="folder of published-number CSVs (default "
                     "results/reference/papers)")
    rep.add_argument("--stale", action="store_true", help="list the files of cells and models the current suite "
                     "does not name (those `bench gc` removes)")
    rep.set_defaults(fn=cmd_report)
    chk = _sub(sub, "check", "compare the results' metrics with a reference file; exit 1 if any moved")
    chk.add_argument("results", help="a results folder (bench run's --out)")
    chk.add_argument("--reference", required=True, metavar="CSV",
                     help="reference CSV (e.g. results/reference/quickstart.csv)")
    chk.add_argument("--tol", help="tolerance for every metric: absolute (0.004) or in samples (2s); "
                     "default the file's tol column, else 1s")
    chk.add_argument("--write", action="store_true", help="write the results' metrics to the reference file instead")
    chk.add_argument("--strict", action="store_true", help="also fail when the results have metrics the reference "
                     "does not list (without it, one line names them)")
    chk.add_argument("--stale", action="store_true", help="list the files of cells and models the current suite "
                     "does not name (those `bench gc` removes)")
    chk.set_defaults(fn=cmd_check)
    gc = _sub(sub, "gc", "remove files of cells the folder's current suite does not name (run.json)")
    gc.add_argument("results", help="a results folder (bench run's --out)")
    gc.set_defaults(fn=cmd_gc)
    ls = _sub(sub, "list", "list registered datasets, archs, recipes, attacks, evaluations, vicinities, "
              "certifiers, tables")
    ls.add_argument("what", choices=("datasets", "archs", "recipes", "attacks", "evaluations", "vicinities",
                                     "certifiers", "tables"), help="which registry")
    ls.add_argument("pattern", nargs="?", default="*", help="only names matching this shell pattern (default *)")
    ls.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                    help="also import this plugin module (repeatable)")
    ls.set_defaults(fn=cmd_list)
    v = _sub(sub, "validate", "check a suite file, its model cards, datasets and external models; write nothing")
    v.add_argument("suite", help="the suite file")
    v.add_argument("--data-root", help="where datasets are read from (default $BENCH_DATA or ./data)")
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
