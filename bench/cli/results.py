"""`bench report`, `bench check`, `bench gc` and `bench list`: reading results folders (torch-free, but for
`bench list`, which imports the registries)."""
from __future__ import annotations

import sys
from pathlib import Path

from bench.errors import UserError


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


def gc_folder(out: Path) -> None:
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
    gc_folder(Path(args.results))
    return 0


def cmd_list(args) -> int:
    from bench.listing import listing

    print(listing(args.what, args.pattern, args.plugin))
    return 0


