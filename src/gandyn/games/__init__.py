"""Stochastic min-max games: per-sample losses over finite data sets."""

from .base import Game, LossTerm, make_game, with_weight_decay
from .dcgan import DCGAN, DCGAN_LOSSES, dcgan, dcgan_game
from .dirac import DIRAC_LOSSES, dirac_gan
from .mlp_gan import MLP_LOSSES, MLPGAN, mlp_gan
from .linear_quadratic import LinearQuadraticSpec, exact_data, linear_quadratic, make_spec
from .tanh_wgan import tanh_wgan

__all__ = ["Game", "LossTerm", "make_game", "with_weight_decay", "dirac_gan", "DIRAC_LOSSES", "LinearQuadraticSpec",
           "make_spec", "exact_data", "linear_quadratic", "tanh_wgan", "mlp_gan", "MLPGAN", "MLP_LOSSES",
           "dcgan_game", "dcgan", "DCGAN", "DCGAN_LOSSES"]
