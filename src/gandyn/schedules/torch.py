"""The FDR learning-rate schedule for PyTorch optimisers (needs ``torch``).

Same rule as :func:`gandyn.schedules.fdr_sgd` (it calls the same JAX
functions), applied to any set of PyTorch optimisers: typically the
generator's and the discriminator's plain SGD. Call :meth:`FDRScheduler.step`
after both players' ``backward()`` and before their ``optimizer.step()``, with
each player's ``.grad`` the gradient of the loss it *minimises* (the usual
PyTorch GAN convention: the discriminator minimises ``−Φ``)::

    sched = FDRScheduler([opt_g, opt_d], FDRRuleConfig(eta0=0.05))
    loss_g.backward(); loss_d.backward()
    sched.step()                    # reads grads, may lower every group's lr
    opt_g.step(); opt_d.step()
    sched.eta, sched.n_drops, sched.history[-1]
"""

from __future__ import annotations

from typing import Sequence

import jax

from .fdr import FDRRuleConfig, fdr_rule_init, fdr_rule_update

__all__ = ["FDRScheduler"]


class FDRScheduler:
    """Lowers the learning rate of ``optimizers`` by the FDR rule (see module docstring)."""

    def __init__(self, optimizers: Sequence, config: FDRRuleConfig):
        try:
            import torch  # noqa: F401
        except ImportError as err:  # pragma: no cover - exercised only without torch
            raise ImportError("FDRScheduler needs PyTorch: pip install 'gandyn[bench]' "
                              "or torch itself") from err
        self.optimizers = list(optimizers)
        if not self.optimizers:
            raise ValueError("give at least one optimizer")
        self.config = config.validate()
        self.state = fdr_rule_init(config)
        self._update = jax.jit(lambda s, a, b: fdr_rule_update(config, s, a, b))
        self.history: list[dict] = []
        self._set_lr(float(self.state.eta))

    @property
    def eta(self) -> float:
        return float(self.state.eta)

    @property
    def n_drops(self) -> int:
        return int(self.state.n_drops)

    def _set_lr(self, eta: float) -> None:
        for opt in self.optimizers:
            for group in opt.param_groups:
                group["lr"] = eta

    def statistics(self) -> tuple[float, float]:
        """``(O_L, O_R)`` from the optimisers' current parameters and gradients."""
        import torch

        o_left = 0.0
        sq = 0.0
        with torch.no_grad():
            for opt in self.optimizers:
                for group in opt.param_groups:
                    for p in group["params"]:
                        if p.grad is None:
                            continue
                        o_left += float(torch.sum(p * p.grad))
                        sq += float(torch.sum(p.grad * p.grad))
        return o_left, 0.5 * self.eta * sq

    def step(self) -> bool:
        """Record this step's statistics; returns True when η was lowered."""
        o_left, o_right = self.statistics()
        before = self.n_drops
        self.state = self._update(self.state, o_left, o_right)
        self.history.append({"step": int(self.state.step), "eta": self.eta, "o_left": o_left,
                             "o_right": o_right, "ratio": float(self.state.last_ratio)})
        if self.n_drops != before:
            self._set_lr(self.eta)
            return True
        return False
