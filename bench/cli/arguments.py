"""The command line's arguments: every command, its options with their help, and a few examples each."""
from __future__ import annotations

import argparse

from bench.cli.results import cmd_check, cmd_gc, cmd_list, cmd_report
from bench.cli.run import DEFAULT_SUITE, cmd_run, cmd_validate
from bench.version import __version__


STALE_HELP = "list the files of cells and models the current suite does not name (those `bench gc` removes)"
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
    rep.add_argument("--stale", action="store_true", help=STALE_HELP)
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
    chk.add_argument("--stale", action="store_true", help=STALE_HELP)
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


