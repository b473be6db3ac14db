"""SDE approximations of SGA: coefficients, a fixed-step integrator, and SVAG chains."""

from .coefficients import (COVARIANCES, SDE, SDE_NAMES, SDE_TARGET, b0, b0_jacobian_b0, b1,
                           default_covariance, make_sde)
from .integrate import INTEGRATORS, euler_maruyama_step, heun_step, make_sde_step, richardson_observables, simulate_sde
from .svag import SVAGStep, make_svag_step, simulate_svag, svag_coefficients, svag_step

__all__ = ["SDE", "make_sde", "SDE_NAMES", "SDE_TARGET", "COVARIANCES", "default_covariance",
           "b0", "b1", "b0_jacobian_b0", "INTEGRATORS", "heun_step", "euler_maruyama_step", "make_sde_step",
           "richardson_observables", "simulate_sde", "SVAGStep", "make_svag_step", "simulate_svag",
           "svag_coefficients", "svag_step"]
