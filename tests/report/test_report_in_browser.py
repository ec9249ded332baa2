"""The report as a reader sees it: report.html rendered by a real browser (headless Chromium), every image
loaded and no section left empty."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import run_cli

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (Debian: apt-get install chromium; .ci/run installs it)"
)

# Runs after the page has loaded: which images decoded, and which headings have nothing under them.
CHECK = """<script>window.addEventListener('load', () => {
  const images = [...document.images].map(i => i.complete && i.naturalWidth > 0);
  const empty = [...document.querySelectorAll('h2, h3')].filter(h => {
    const next = h.nextElementSibling;
    return !next || next.tagName === 'H1' || next.tagName === 'H2' || (h.tagName === 'H3' && next.tagName === 'H3');
  }).map(h => h.textContent);
  document.body.setAttribute('data-check', JSON.stringify({images, empty}));
});</script>"""


def _render(html: Path) -> dict:
    page = html.with_name("checked.html")
    page.write_text(html.read_text().replace("</body>", CHECK + "</body>"))
    done = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={html.parent / 'chromium-profile'}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    match = re.search(r"data-check=\"([^\"]*)\"", done.stdout)
    assert match, f"the page did not finish loading: {done.stderr[-1000:]}"
    return json.loads(match.group(1).replace("&quot;", '"'))


def test_the_quick_report_renders_with_every_image_and_no_empty_section(tmp_path: Path) -> None:
    code, out, err = run_cli(
        ["run", "quick", "--output", str(tmp_path), "--seeds", "1", "--set", "train.epochs=2", "-q"]
    )
    assert code == 0, err
    seen = _render(Path(out.strip().splitlines()[-1]))
    assert len(seen["images"]) >= 8  # ROC, scores, reconstructions, training, PR, error maps ...
    assert all(seen["images"]), seen["images"]
    assert seen["empty"] == []
