"""The simulated phase diagram in tasks, and its adaptive mode.

References: the whole grid in one vmapped run (``simulated_phase_grid``, the route before
tasks) for the split into tasks, and Theorem 1's generator rate for the adaptive mode's
verdicts.
"""

import numpy as np
import pytest

from gandyn.kernel.study import simulated_phase_grid
from gandyn.studies import kernel
from gandyn.studies.executor import Executor, LocalExecutor

GRID = dict(sigma_grid={"lo": 0.2, "hi": 2.0, "count": 5},
            lam_grid={"lo": 0.05, "hi": 1.0, "count": 4},
            eta_d=0.1, eta_g=0.1, p_gen=0.4, n_gen=2, dim=2, simulate=40)


class _Reversed(Executor):
    kind = "reversed"

    def map(self, tasks, on_done=None):
        return LocalExecutor().map(tasks[::-1], on_done)[::-1]


def test_one_path_per_cell_is_the_whole_grid_in_one_run():
    config = kernel.PhaseConfig(**GRID)
    result = kernel.phase(config)
    whole = simulated_phase_grid(config.sigma_grid.values(), config.lam_grid.values(),
                                 eta_d=0.1, eta_g=0.1, p=1.0, p_gen=0.4, n_gen=2, dim=2,
                                 steps=40)
    simulated = result.arrays["simulated"]
    np.testing.assert_allclose(simulated["rho2"], whole["rho2"], rtol=1e-12)
    np.testing.assert_array_equal(simulated["diverged"], whole["diverged"])
    assert "paths" not in result["simulated"] and "adaptive" not in result["simulated"]
    assert result["executor"] == {"kind": "local"}


def test_adaptive_mode_spends_paths_only_where_the_class_is_in_doubt():
    config = kernel.PhaseConfig(**GRID, adaptive=True, max_paths=16)
    result = kernel.phase(config)
    summary = result["simulated"]["adaptive"]
    paths = result.arrays["simulated"]["paths"]
    classes = result.arrays["simulated"]["class"]
    theory = result.arrays["theory_generator"]["rho2"]
    assert result["simulated"]["paths"] == summary["base_paths"] == 4
    # Some cells were settled by their first 4 paths, some needed more, none past the cap.
    assert paths.min() == 4 and 4 < paths.max() <= 16
    assert summary["refined_cells"] == int((paths > 4).sum()) > 0
    assert summary["extra_paths"] == int(paths.sum()) - 4 * paths.size
    assert summary["total_paths"] == int(paths.sum())
    # A cell stays undecided only after its paths ran out.
    assert np.all(paths[classes == "undecided"] == 16)
    assert summary["undecided_cells"] == int((classes == "undecided").sum())
    # The verdicts agree with Theorem 1, and the doubtful cells sit at the boundary |ρ|² = 1.
    assert np.all(theory[classes == "converge"] < 1.0)
    assert np.all(theory[classes == "diverge"] > 1.0)
    assert np.all(np.abs(theory[paths > 4] - 1.0) < 0.1)
    assert np.all(np.abs(theory[paths == 4] - 1.0) > 0.01)
    fractions = summary["class_fraction"]
    assert fractions["converge"] > 0.5 and abs(sum(fractions.values()) - 1.0) < 1e-12
    # The same numbers whatever order the tasks run in.
    again = kernel.phase(config, executor=_Reversed())
    assert again["simulated"] == result["simulated"]
    np.testing.assert_array_equal(again.arrays["simulated"]["rho2"],
                                  result.arrays["simulated"]["rho2"])


@pytest.mark.parametrize("rho2,diverged,expected", [
    ([0.5, 0.51, 0.49, 0.5], [False] * 4, "converge"),
    ([1.0, 1.001, 0.999, 1.0], [False] * 4, "oscillate"),
    ([1.5, 1.6, 1.4, 1.5], [False] * 4, "diverge"),
    ([2.0, 2.0], [True, True], "diverge"),
    ([0.5, 2.0], [False, True], None),         # some paths left the floats, some did not
    ([0.9, 1.0, 0.95, 0.97], [False] * 4, None),  # the interval crosses 1 - tol
    ([0.5], [False], None),                    # one path: no interval
    ([np.nan, 0.5, np.nan], [False] * 3, None),   # one finite rate: no interval
])
def test_cell_class(rho2, diverged, expected):
    assert kernel.cell_class(rho2, diverged, tol=0.01) == expected


def test_paths_and_adaptive_need_simulate():
    with pytest.raises(ValueError, match="need simulate"):
        kernel.PhaseConfig(adaptive=True)
    with pytest.raises(ValueError, match="adaptive needs paths >= 2"):
        kernel.PhaseConfig(**GRID, adaptive=True, paths=1)
