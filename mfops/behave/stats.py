"""The statistics behind behaviour verdicts: exact tests on small pass counts.

A case run with `samples: n` yields `k` passing samples; with a model at temperature > 0
that count is a draw from Binomial(n, p). Comparing a candidate with a release is then a
question about two binomial proportions from small samples (5 to 50 draws), where normal
approximations are wrong exactly where it matters (rates near 0 or 1). Hence:

- `fisher_less`: the one-sided Fisher exact test that the candidate's pass rate is lower,
  the hypergeometric tail computed exactly with `math.comb` (integers, no rounding until
  the final division). It is conditional on the margins, conservative, and needs no
  approximation at any sample size mfops allows (`MAX_SAMPLES` = 1000);
- `wilson`: the Wilson score interval for one pass rate (sane at 0/n and n/n, unlike the
  Wald interval);
- `holm`: Holm's step-down correction, so that 200 cases compared at once do not produce
  a false regression by chance (it controls the family-wise error rate, uniformly better
  than Bonferroni);
- `pass_hat_k`: pass^k, the chance that k fresh samples all pass, estimated without bias
  as C(c, k) / C(n, k) from c passes in n samples;
- `min_p` / `samples_needed`: the smallest p-value a pair of sample counts can ever give
  (release all pass, candidate all fail). A case whose counts cannot reach alpha is
  *underpowered*: no outcome could show a regression, so saying "no regression" would be
  meaningless.

Why not scipy: it is not a dependency and is a large binary install for four short
functions; these are exact (integer arithmetic) and are checked against hand-computed
values in tests/test_behave_stats.py.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Z95 = 1.959963984540054  # the 97.5th percentile of the standard normal


def fisher_less(cand_pass: int, cand_n: int, base_pass: int, base_n: int) -> float:
    """One-sided Fisher exact p-value for "the candidate passes less often than the base".

    The 2x2 table has rows candidate/base and columns pass/fail; conditional on the margins,
    the candidate's pass count is hypergeometric. The p-value is P(X <= cand_pass).
    """
    _check(cand_pass, cand_n)
    _check(base_pass, base_n)
    passes = cand_pass + base_pass
    total = cand_n + base_n
    if total == 0:
        return 1.0
    low = max(0, passes - base_n)
    tail = sum(
        math.comb(cand_n, x) * math.comb(base_n, passes - x) for x in range(low, cand_pass + 1)
    )
    return min(1.0, tail / math.comb(total, passes))


def fisher_greater(cand_pass: int, cand_n: int, base_pass: int, base_n: int) -> float:
    """One-sided p-value for "the candidate passes more often" (an improvement)."""
    return fisher_less(cand_n - cand_pass, cand_n, base_n - base_pass, base_n)


def min_p(cand_n: int, base_n: int) -> float:
    """The smallest p `fisher_less` can give for these sample counts: the base passes every
    sample and the candidate none (1 / C(n1 + n0, n0))."""
    if cand_n <= 0 or base_n <= 0:
        return 1.0
    return 1.0 / math.comb(cand_n + base_n, base_n)


def samples_needed(alpha: float) -> int:
    """The fewest samples per side (equal on both) for which a total collapse (n/n on the
    release, 0/n on the candidate) is significant at `alpha`."""
    n = 1
    while min_p(n, n) > alpha:
        n += 1
    return n


def wilson(passes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for a pass rate (95% by default); (0, 1) for no samples."""
    _check(passes, n)
    if n == 0:
        return (0.0, 1.0)
    p = passes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def pass_hat_k(passes: int, n: int, k: int) -> float | None:
    """pass^k: the estimated chance that `k` fresh samples all pass (C(c,k)/C(n,k));
    None when fewer than `k` samples were drawn."""
    _check(passes, n)
    if k < 1 or n < k:
        return None
    return math.comb(passes, k) / math.comb(n, k)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, in the input order (compare each with alpha directly)."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def _check(passes: int, n: int) -> None:
    if n < 0 or not 0 <= passes <= n:
        raise ValueError(f"pass count {passes} out of range for {n} samples")
