"""Kernel-discriminator GDA (Becker, Pandit, Rangan & Fletcher).

* :mod:`~gandyn.kernel.kernels`: RBF, rational quadratic, inverse multiquadric, radial and
  general user kernels;
* :mod:`~gandyn.kernel.dynamics`: exact simulation of eq. (5), both update orders, sweeps;
* :mod:`~gandyn.kernel.theory`: Theorem 1, Corollary 1, Proposition 2, the largest stable η_d;
* :mod:`~gandyn.kernel.linearised`: the same spectrum by autodiff (any kernel) and by
  ARPACK on the full update map;
* :mod:`~gandyn.kernel.rates`: convergence rates of oscillating decays;
* :mod:`~gandyn.kernel.study` and :mod:`~gandyn.kernel.plots`: Figures 2 and 3.
"""

from .dynamics import KernelGDA, Trajectory, memory_for, nearest_target, rounding_memory, simulate
from .kernels import (Kernel, inverse_multiquadric, kernel_by_name, kernel_width,
                      radial_kernel, rational_quadratic, rbf, user_kernel)
from .linearised import (LinearisedSpectrum, equilibrium_residual, linearised_map,
                         linearised_spectrum, truncated_map_spectrum)
from .plots import plot_convergence, plot_phase, plot_phase_comparison
from .rates import RateFit, envelope_rate
from .study import (convergence_study, initial_points, phase_grid, simulate_local,
                    simulated_phase_grid, spectrum_report, summarise_phase)
from .theory import (Eigenvalue, KernelParams, corollary1_eta_d_max, eta_d_max, proposition2,
                     rates, theorem1_coefficients, theorem1_spectrum)

__all__ = ["KernelGDA", "Trajectory", "memory_for", "rounding_memory", "nearest_target", "simulate", "Kernel",
           "inverse_multiquadric", "kernel_by_name", "kernel_width", "radial_kernel",
           "rational_quadratic", "rbf",
           "user_kernel", "LinearisedSpectrum", "equilibrium_residual", "linearised_map",
           "linearised_spectrum", "truncated_map_spectrum", "plot_convergence", "plot_phase",
           "plot_phase_comparison", "RateFit", "envelope_rate",
           "convergence_study", "initial_points", "phase_grid", "simulate_local",
           "simulated_phase_grid", "spectrum_report", "summarise_phase", "Eigenvalue",
           "KernelParams", "corollary1_eta_d_max", "eta_d_max", "proposition2", "rates",
           "theorem1_coefficients", "theorem1_spectrum"]
