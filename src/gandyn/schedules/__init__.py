"""Learning-rate schedules driven by fluctuation–dissipation relations.

:func:`fdr_sgd` is an optax optimiser; ``gandyn.schedules.torch.FDRScheduler``
(PyTorch, optional extra) applies the same rule to PyTorch optimisers.
"""

from .fdr import (FDRRuleConfig, FDRRuleState, FDRScheduleState, fdr_rule_init, fdr_rule_update,
                  fdr_sgd, fdr_statistics)

__all__ = ["FDRRuleConfig", "FDRRuleState", "FDRScheduleState", "fdr_rule_init",
           "fdr_rule_update", "fdr_sgd", "fdr_statistics"]
