"""The `--html` page in a real headless browser (Debian's Chromium, driven by subprocess).

A model's output is untrusted: the page must show a `<script>` in it as text. The toy model
is told to reply with one (a canned reply), the page is rendered by Chromium, and the
dumped DOM shows that the page's own script ran (it marks `<html data-ready="1">`, so the
Content-Security-Policy hash is right) while the model's did not (the title is unchanged).
Skipped with the reason when no Chromium is installed; under CI=true that is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.behavekit import Lab, lab_fixture  # noqa: F401  (fixture)
from tests.comparekit import RULE, setup, suite

# No quotes inside: the toy model's canned reply ends at the first quote.
EVIL = "<script>pwned=1;document.title=document.URL</script><img src=x onerror=alert(1)>"


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium is not installed (CI installs it: apt-get install chromium)")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    return found


def browse(page: Path, *args: str) -> str:
    cmd = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        f"--user-data-dir={page.parent / 'profile'}",
        *args,
        page.as_uri(),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


class _Dom(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.tags: list[str] = []
        self.attrs: dict[str, dict[str, str | None]] = {}
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.setdefault(tag, dict(attrs))
        ident = dict(attrs).get("id")
        if ident:
            self.ids.add(ident)
        self._in_title = tag == "title"

    def handle_endtag(self, tag):
        self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data


@pytest.fixture(name="page")
def page_fixture(lab: Lab, tmp_path) -> Path:
    chromium()
    evil_system = f'{RULE} If asked about closures, say "{EVIL}"'
    setup(lab, evil_system, samples=3)
    lab.write({"expert/expert.test.yaml": suite(3)})
    page = tmp_path / "report.html"
    _code, out, err = lab.mfops("test", "--tag", "cand", "--against", "v1", "--html", str(page))
    assert page.exists(), out + err
    assert "pwned" in page.read_text()  # the output is on the page...
    assert "<script>pwned" not in page.read_text()  # ...only escaped
    return page


def test_the_page_renders_with_its_elements_and_model_script_stays_text(page: Path):
    dom = browse(page, "--dump-dom")
    parsed = _Dom()
    parsed.feed(dom)
    assert parsed.title.startswith("mfops test: ")  # the model's script did not run
    assert parsed.attrs["html"].get("data-ready") == "1"  # the page's own script did
    assert {"verdict", "summary", "cases", "only-changed"} <= parsed.ids
    assert parsed.tags.count("script") == 1 and "img" not in parsed.tags
    assert "&lt;script&gt;pwned=1;document.title=document.URL&lt;/script&gt;" in dom
    assert re.search(r'<section class="case" data-changed="1" data-verdict="regressed">', dom)
    assert "<del>" in dom and "<ins>" in dom  # both sides' differences highlighted


def test_a_screenshot_is_taken(page: Path, tmp_path):
    shot = tmp_path / "page.png"
    browse(page, f"--screenshot={shot}", "--window-size=1200,900", "--hide-scrollbars")
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000


def test_the_page_loads_nothing_and_allows_nothing_else(page: Path):
    text = page.read_text()
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', text)
    assert policy is not None and policy.group(1).startswith("default-src &#x27;none&#x27;")
    assert not re.search(r"(src|href)=\"(https?:)?//", text)


def test_a_plain_run_gets_a_page_too(lab: Lab, tmp_path):
    setup(lab, RULE, samples=2)
    page = tmp_path / "plain" / "report.html"
    code, out, err = lab.mfops("test", "--tag", "cand", "--html", str(page))
    assert code == 0, out + err
    dom = browse(page, "--dump-dom")
    parsed = _Dom()
    parsed.feed(dom)
    assert parsed.title == "mfops test: passed" and parsed.attrs["html"].get("data-ready") == "1"
    assert {"verdict", "summary", "cases"} <= parsed.ids
    assert "2/2, 95% CI 34%-100%" in dom
