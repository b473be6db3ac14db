"""Analyses of SGA and its SDEs: weak error and orders, exact linear-quadratic moments, spectra.

The PyTorch front end of the step spectra, :mod:`gandyn.analysis.torch_spectrum`, is imported
only on request (it imports ``torch``).
"""

from .game_spectrum import (largest_stable_eta, mean_update_map, plot_spectrum, update_jacobian,
                            update_spectrum)
from .lq_exact import sde_moments, sga_moments
from .step_spectrum import (field_spectrum, nash_check, path_angle, spectrum_along_training,
                            stable_eta_range, step_spectrum)
from .update_maps import (GDA, Adam, Consensus, Extragradient, GradientPenalty, Momentum,
                          Optimistic, OptaxOptimizer, RMSprop, training_step)
from .test_functions import QuadraticTestFunction, make_test_function
from .weak_error import (Comparison, ComparisonResult, bootstrap_order, exact_weak_error,
                         fit_order, monte_carlo_weak_error)

__all__ = ["training_step", "step_spectrum", "stable_eta_range", "field_spectrum", "nash_check",
           "path_angle", "spectrum_along_training", "GDA", "Momentum", "Extragradient",
           "Optimistic", "Consensus", "Adam", "RMSprop", "OptaxOptimizer", "GradientPenalty",
           "mean_update_map", "update_jacobian", "update_spectrum", "largest_stable_eta",
           "plot_spectrum", "sga_moments", "sde_moments", "QuadraticTestFunction", "make_test_function", "Comparison",
           "ComparisonResult", "bootstrap_order", "exact_weak_error", "fit_order",
           "monte_carlo_weak_error"]
