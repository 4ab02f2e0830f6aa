"""The exact statistics behind comparisons (mfops/behave/stats.py), on hand-computed values."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mfops.behave import stats


def test_fisher_twenty_of_twenty_against_fourteen_of_twenty():
    # Candidate fails 6 of 40 draws: P = C(20,6)/C(40,6) = 38760/3838380.
    p = stats.fisher_less(14, 20, 20, 20)
    assert p == pytest.approx(38760 / 3838380)
    assert 0.0100 < p < 0.0102


def test_fisher_is_one_for_identical_perfect_sides_and_symmetric_for_improvement():
    assert stats.fisher_less(5, 5, 5, 5) == 1.0
    assert stats.fisher_greater(20, 20, 14, 20) == pytest.approx(stats.fisher_less(14, 20, 20, 20))
    assert stats.fisher_less(20, 20, 14, 20) == 1.0


@given(
    st.integers(1, 30).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
    st.integers(1, 30).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
)
def test_fisher_matches_the_hypergeometric_tail_and_is_monotone(cand, base):
    (k1, n1), (k0, n0) = cand, base
    total = k1 + k0
    want = sum(
        math.comb(n1, x) * math.comb(n0, total - x)
        for x in range(0, k1 + 1)
        if 0 <= total - x <= n0
    ) / math.comb(n1 + n0, total)
    assert stats.fisher_less(k1, n1, k0, n0) == pytest.approx(want)
    if k1 > 0:  # fewer candidate passes are never less significant
        assert stats.fisher_less(k1 - 1, n1, k0, n0) <= stats.fisher_less(k1, n1, k0, n0) + 1e-12


def test_wilson_interval_known_values():
    low, high = stats.wilson(14, 20)
    assert (round(low, 4), round(high, 4)) == (0.4810, 0.8545)
    assert stats.wilson(0, 10)[0] == 0.0 and stats.wilson(10, 10)[1] == pytest.approx(1.0)
    assert stats.wilson(0, 0) == (0.0, 1.0)


def test_pass_hat_k():
    assert stats.pass_hat_k(7, 10, 3) == pytest.approx(35 / 120)
    assert stats.pass_hat_k(10, 10, 3) == 1.0
    assert stats.pass_hat_k(2, 2, 3) is None


def test_holm_adjusts_step_down_and_keeps_order():
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert stats.holm([]) == []
    assert stats.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_power_minimum_p_and_samples_needed():
    assert stats.min_p(2, 2) == pytest.approx(1 / 6)
    assert stats.samples_needed(0.05) == 3  # 1/C(6,3) = 0.05
    assert stats.samples_needed(0.05 / 200) == 8  # 1/C(14,7) > 0.00025 >= 1/C(16,8)
    assert stats.min_p(0, 5) == 1.0


def test_counts_out_of_range_are_refused():
    with pytest.raises(ValueError, match="out of range"):
        stats.fisher_less(6, 5, 1, 5)
