"""KernelParams: the parameter ranges where Theorem 1's numbers are computed without overflow."""

import numpy as np
import pytest

from gandyn.cli import main
from gandyn.kernel import KernelParams

POSITIVE = ("sigma", "lam", "eta_d", "eta_g", "p", "p_gen")
BASE = dict(sigma=1.0, lam=0.5, eta_d=0.1, eta_g=0.1, p=1.0, p_gen=0.8)


@pytest.mark.parametrize("name", POSITIVE)
@pytest.mark.parametrize("value", [1e-160, 1e154, 1.3407807929942597e+154, 1e-13, 1e13])
def test_extreme_parameters_are_rejected_with_one_line_naming_them(name, value):
    with _no_warnings():
        with pytest.raises(ValueError) as err:
            KernelParams(**{**BASE, name: value})
    message = str(err.value)
    assert len(message.splitlines()) == 1 and name in message and "[1e-12, 1e+12]" in message


@pytest.mark.parametrize("name", ["n_gen", "dim"])
def test_too_many_points_or_dimensions_are_rejected(name):
    with pytest.raises(ValueError, match=name):
        KernelParams(**BASE, **{name: 10**7})


def test_parameters_at_the_edges_of_the_ranges_compute_without_warnings():
    from gandyn.kernel.study import spectrum_report

    for name in POSITIVE:
        for value in (1e-12, 1e12):
            for n_gen in (1, 3):
                params = KernelParams(**{**BASE, name: value, "n_gen": n_gen})
                with _no_warnings():
                    for order in ("simultaneous", "d-first"):
                        report = spectrum_report(params, order=order)
                        assert np.isfinite(report["rho_joint"])


def test_cli_rejects_the_overflowing_sigma_with_exit_2(capsys):
    with _no_warnings():
        code = main(["kernel", "spectrum", "--sigma", "1.3407807929942597e+154"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "sigma" in err[0], err


class _no_warnings:
    """Turn every warning into an error inside the block."""

    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("error")
        np_err = np.seterr(all="raise")
        self._np = np_err
        return self

    def __exit__(self, *exc):
        np.seterr(**self._np)
        return self._ctx.__exit__(*exc)


def test_eta_d_max_when_the_real_pair_is_far_apart():
    """m² ≫ c: ν₋ = m − √(m² − c) cancels to 0 in float64; the true bound is 2/ν₊ > 0.

    Reference: the roots of ν² − 2mν + c in 60-digit decimal arithmetic.
    """
    from decimal import Decimal, getcontext

    from gandyn.kernel import eta_d_max
    from gandyn.kernel.theory import theorem1_coefficients

    params = KernelParams(sigma=1e-4, lam=1e-6, eta_d=1e-3, eta_g=1e-3, p=1.0, p_gen=0.5, n_gen=1)
    a, b, c = (float(v) for v in theorem1_coefficients(params.sigma, params.lam, params.eta_d,
                                                       params.eta_g, params.p, params.p_gen, 1))
    getcontext().prec = 60
    m, cd = (Decimal(a) + Decimal(b)) / 2, Decimal(c)
    root = (m * m - cd).sqrt()
    nu_plus, nu_minus = m + root, m - root
    assert float(nu_minus) > 0 and float(m) - float(np.sqrt(float(m) ** 2 - c)) == 0.0
    expected = min(2 / Decimal(a), 2 / nu_plus, 2 / nu_minus)
    assert eta_d_max(params) == pytest.approx(float(expected), rel=1e-12)
    from gandyn.kernel import theorem1_spectrum

    slow = next(e.value for e in theorem1_spectrum(params) if e.mode == "c-")
    assert 1.0 - slow.real == pytest.approx(params.eta_d * float(nu_minus), rel=1e-6)
