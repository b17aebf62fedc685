"""The HTML report in a real headless Chromium (Debian's chromium package): the tables, the inline SVG
plots and the sorting script are there after the page has loaded, and names are not executed as markup."""
import shutil
import subprocess

import pytest

from bench.report.build import render, tables_for
from report_rows import run_info, synthetic

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _install() -> str | None:
    """Install Debian's chromium when missing (CI runs as root); the reason it cannot be, or None."""
    if shutil.which("chromium"):
        return None
    if not shutil.which("apt-get"):
        return "no chromium and no apt-get to install it"
    env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    for cmd in (["apt-get", "install", "-y", "-q", "chromium"], ["apt-get", "update", "-q"],
                ["apt-get", "install", "-y", "-q", "chromium"]):
        try:
            subprocess.run(cmd, env=env, capture_output=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as e:
            return f"apt-get failed: {e}"
        if shutil.which("chromium"):
            return None
    return "apt-get could not install chromium (no root or no network to Debian's registry)"


@pytest.fixture(scope="session")
def chromium():
    reason = _install()
    if reason:
        pytest.skip(reason)
    return shutil.which("chromium")


def test_report_page_in_chromium(chromium, tmp_path):
    rows = synthetic(n=40)
    rows["recipe"] = rows["recipe"].replace({"erm": "erm<img src=x onerror=document.body.setAttribute('data-x',1)>"})
    run = {**run_info(), "order": {}}
    page = tmp_path / "report.html"
    page.write_text(render("html", tables_for(rows, run, None), "bench report: synthetic", rows, run))
    out = subprocess.run([chromium, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
                          page.as_uri()], capture_output=True, text=True, timeout=60)
    dom = out.stdout
    assert "<h1>bench report: synthetic</h1>" in dom, out.stderr[-2000:]
    for name in ("leaderboard", "table1", "table9", "table3", "table11", "atpr"):
        assert f'id="table-{name}"' in dom
    assert dom.count("<svg") >= 3 and dom.count("<polyline") >= 3 and 'class="bar"' in dom
    assert "data-x" not in dom.split("<body", 1)[1].split(">", 1)[0]  # the injected handler never ran
    assert "&lt;img" in dom
    assert 'data-order' not in dom  # nothing sorted yet, but the sorter's script is in the page
    assert "table.sortable" in dom
