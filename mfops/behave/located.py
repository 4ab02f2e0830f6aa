"""Errors that point into a suite file: `path:line: key.path: message`.

Suite mistakes must be found before any model is called and must say where they are, the
way `mfops.yaml` errors do. `At` is a cursor into one loaded YAML document (its LineMap
from the one YAML loader): it knows the file, the key path it stands for, and can make a
ConfigError at the line of that key or of any key below it.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from mfops.errors import ConfigError
from mfops.fileio.yamlfile import LineMap, dotted, kind_of


@dataclass(frozen=True)
class At:
    """A key path inside one suite file."""

    file: str
    lines: LineMap
    path: tuple[object, ...] = ()

    def __truediv__(self, key: object) -> At:
        return At(self.file, self.lines, (*self.path, key))

    @property
    def line(self) -> int:
        return self.lines.line(*self.path)

    def fail(self, message: str, hint: str | None = None) -> ConfigError:
        where = dotted(self.path)
        text = f"{where}: {message}" if where else message
        return ConfigError(text, path=self.file, line=self.line, hint=hint)

    def mapping(self, value: object, allowed: tuple[str, ...]) -> dict[str, object]:
        """`value` as a mapping whose keys are all in `allowed` (a typo is an error)."""
        if not isinstance(value, dict):
            raise self.fail(f"expected a mapping, got {kind_of(value)}")
        for key in value:
            if not isinstance(key, str) or key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                raise (self / key).fail(
                    f"unknown key (expected one of: {', '.join(sorted(allowed))})",
                    f"did you mean {close[0]!r}?" if close else None,
                )
        return value

    def text(self, value: object, *, empty: bool = False) -> str:
        if not isinstance(value, str) or (not empty and not value.strip()):
            raise self.fail(f"expected a non-empty string, got {kind_of(value)}")
        return value

    def number(
        self, value: object, *, low: float, high: float | None = None, low_open: bool = False
    ) -> float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok:
            num = float(value)  # type: ignore[arg-type]
            ok = (num > low if low_open else num >= low) and (high is None or num <= high)
        if not ok:
            lo = f"> {low:g}" if low_open else f">= {low:g}"
            rng = f"a number {lo}" + (f" and <= {high:g}" if high is not None else "")
            raise self.fail(f"expected {rng}, got {value!r}")
        return float(value)  # type: ignore[arg-type]

    def integer(self, value: object, *, low: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise self.fail(f"expected an integer >= {low}, got {value!r}")
        return value
