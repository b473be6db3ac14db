"""The subcommands of ``gandyn``, in the order ``gandyn --help`` lists them.

Each entry is a ``register(subparsers)`` function that adds one subcommand
(see :mod:`gandyn.cli` for the conventions they follow).
"""

from .invariant_command import register as _invariant
from .kernel_command import register as _kernel
from .report_command import register as _report
from .train_command import register as _train
from .weak_order_command import register as _weak_order

REGISTRY = [_weak_order, _invariant, _kernel, _train, _report]
