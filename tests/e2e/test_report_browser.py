"""The savings report in a real headless Chromium: it loads without console errors and the
plotly charts render (their ``.main-svg`` exists); a screenshot is saved in tmp_path."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

import saosim
from saosim.replay.engine import Scenario, simulate
from saosim.report import write_report
from saosim.synth.estate import synthetic_estate

pytestmark = pytest.mark.slow

#: a model name that would retitle the page if it ran as code
EVIL = "<script>document.title='PWNED'</script><img src=x onerror=\"document.title='PWNED'\">"

_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no chromium on PATH (apt-get install chromium; .ci/run installs it)")


def _browse(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    profile.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [
            _chromium(),
            *_FLAGS,
            f"--user-data-dir={profile}",
            "--virtual-time-budget=20000",
            "--enable-logging=stderr",
            "--v=0",
            *extra,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _console(result: subprocess.CompletedProcess[str]) -> list[str]:
    """Lines the page wrote to its console (headless Chromium logs them all as CONSOLE)."""
    return [line for line in result.stderr.splitlines() if ":CONSOLE" in line]


def test_console_errors_are_seen(tmp_path):
    # the check below is only worth something if a page's errors reach us
    page = tmp_path / "bad.html"
    page.write_text("<html><body><script>throw new Error('boom')</script></body></html>")
    result = _browse(page, tmp_path / "profile", "--dump-dom")
    assert any("Uncaught Error: boom" in line for line in _console(result))


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    estate = synthetic_estate(n_models=60, days=3, seed=9)
    project = estate.project
    uid = next(u for u in project.buildable if project.nodes[u].resource_type == "model")
    import dataclasses

    evil = project.replace_node(uid, name=EVIL)
    estate = dataclasses.replace(estate, project=evil)
    tuned = Scenario("tuned", "sao", tiers=saosim.Tiers.from_dict(saosim.TUNED_TIERS))
    cmp = simulate(estate, [Scenario("sao"), tuned])
    return write_report(cmp, tmp_path_factory.mktemp("report") / "savings.html")


def test_report_renders_without_console_errors(report, tmp_path):
    result = _browse(report, tmp_path / "profile-dom", "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    # every chart drew its SVG (plotly adds .main-svg once a plot is rendered)
    charts = re.findall(r'class="plotly-graph-div[^"]*"', dom)
    assert len(charts) == 7
    assert dom.count('class="main-svg"') >= 7
    assert _console(result) == []
    # the model named like a script tag showed as text, it did not run
    assert "PWNED" not in re.search(r"<title>(.*?)</title>", dom).group(1)
    assert "&lt;script&gt;document.title=" in dom


def test_report_screenshot(report, tmp_path):
    shot = tmp_path / "report.png"
    result = _browse(
        report, tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1280,2400"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 50_000  # a blank page is a few kB
