"""The studies: typed config -> ``run(config, ...)`` -> typed result, and their outputs.

One module per study; each holds its configuration model (a
:class:`~gandyn.studies.config.StrictModel`), its built-in defaults, a ``run``
function returning a result with ``to_json()`` (what ``gandyn STUDY --json``
prints) and ``to_frame()`` (a tidy pandas table), and ``write_outputs``
(figures, CSV, JSON). No argparse and no printing: :mod:`gandyn.cli` and
:mod:`gandyn.report` are the two front ends over these modules.

* :mod:`~gandyn.studies.weak_order`: weak error and order (Cao & Guo, Theorems 1–2);
* :mod:`~gandyn.studies.invariant`: stationary law, Theorem 6, FDRs (§4);
* :mod:`~gandyn.studies.kernel`: kernel-discriminator GDA (Becker et al.);
* :mod:`~gandyn.studies.train`: the FDR schedule in GAN training;
* :mod:`~gandyn.studies.step_spectrum`: local stability of a whole training step;
* :mod:`~gandyn.studies.config`, :mod:`~gandyn.studies.executor`,
  :mod:`~gandyn.studies.result`: the shared config idiom, tasks and executors,
  and the result convention;
* :mod:`~gandyn.studies.executor_config`, :mod:`~gandyn.studies.ray_executor`:
  the ``[executor]`` table and the Ray executor (the optional ``[ray]`` extra).
"""

import importlib

__all__ = ["weak_order", "invariant", "kernel", "train", "step_spectrum", "config", "executor", "result",
           "executor_config", "ray_executor"]


def __getattr__(name):  # studies load on first use: each imports JAX
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
