"""Analyses of SGA and its SDEs: weak error and orders, exact linear-quadratic moments."""

from .game_spectrum import (largest_stable_eta, mean_update_map, plot_spectrum, update_jacobian,
                            update_spectrum)
from .lq_exact import sde_moments, sga_moments
from .test_functions import QuadraticTestFunction, make_test_function
from .weak_error import (Comparison, ComparisonResult, bootstrap_order, exact_weak_error,
                         fit_order, monte_carlo_weak_error)

__all__ = ["mean_update_map", "update_jacobian", "update_spectrum", "largest_stable_eta",
           "plot_spectrum", "sga_moments", "sde_moments", "QuadraticTestFunction", "make_test_function", "Comparison",
           "ComparisonResult", "bootstrap_order", "exact_weak_error", "fit_order",
           "monte_carlo_weak_error"]
