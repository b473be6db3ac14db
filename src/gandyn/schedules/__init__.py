"""Learning-rate schedules driven by fluctuation–dissipation relations.

* :func:`scale_by_fdr` (optax): chains after any optimiser,
  ``optax.chain(optax.adam(1e-3), scale_by_fdr(...))``; :func:`fdr_sgd` is it after SGD.
* ``gandyn.schedules.torch.FDRScheduler`` (PyTorch, the ``[torch]`` extra): a
  ``torch.optim.lr_scheduler.LRScheduler`` with the same rule, in NumPy.
* :mod:`gandyn.schedules.rule`: the decision rule itself, for both.

Names are loaded on first use, so ``import gandyn.schedules.torch`` imports
neither JAX nor optax.
"""

import importlib

_NAMES = {
    "FDR_STATIC_ARGS": "fdr", "ScaleByFDRState": "fdr", "scale_by_fdr": "fdr", "fdr_sgd": "fdr",
    "fdr_metrics": "fdr", "fdr_verdict": "fdr", "find_fdr_states": "fdr",
    "FDRConfig": "rule", "FDRRuleState": "rule", "FDRPlayerState": "rule", "PHASES": "rule",
    "rule_init": "rule", "rule_update": "rule", "equivalence_test": "rule", "verdict": "rule",
}

__all__ = sorted(_NAMES)


def __getattr__(name):
    if name in _NAMES:
        return getattr(importlib.import_module(f"{__name__}.{_NAMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(__all__ + ["fdr", "rule", "torch"])
