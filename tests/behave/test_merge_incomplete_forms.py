"""Every form of a merge some of whose shards did not complete marks each such shard as
not completed, whatever its report gives as reason and exit code (an older mfops wrote
no exit code; a report is an artefact and its reason may be empty)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from mfops.behave.merge import merge
from mfops.behave.merge_report import (
    html_incomplete,
    junit_incomplete,
    markdown_incomplete,
    text_incomplete,
)
from mfops.repo.repository import Repo


def _failed(index: int, reason: str, exit_code: int | None) -> dict[str, Any]:
    block = {"format": 1, "index": index, "count": 2, "failed": reason, "exit_code": exit_code}
    return {"cases": [], "shard": block}


def test_a_shard_with_no_reason_nor_exit_code_is_still_shown_as_not_completed(tmp_path: Path):
    files = [("s1.json", _failed(1, "", None)), ("s2.json", _failed(2, "boom", 1))]
    merged = merge(Repo(tmp_path), files)
    assert not merged.ok and len(merged.incomplete) == 2
    text = text_incomplete(merged)
    assert "shard 1/2 (s1.json): did not complete" in text
    markdown = markdown_incomplete(merged)
    assert "✅" not in markdown and markdown.count("❌ did not complete") == 2
    junit = ET.fromstring(junit_incomplete(merged))
    assert [c.find("error") is not None for c in junit.iter("testcase")] == [True, True]
    assert 'class="ok"' not in html_incomplete(merged)
