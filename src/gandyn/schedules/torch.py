"""The FDR schedule for PyTorch: a ``torch.optim.lr_scheduler.LRScheduler`` (needs ``torch``).

Works after any torch optimiser (SGD, momentum, Adam, …): it measures the
update each ``optimizer.step()`` actually applied, ``Δ = θ_{t+1} − θ_t``, and
tests the FDR of any update rule, ``E[−θ·Δ] = E[½|Δ|²]`` per player
(:mod:`gandyn.schedules.rule`; the same rule as the optax
:func:`gandyn.schedules.scale_by_fdr`, run in NumPy, so that importing and
using this module never starts JAX on a GPU machine). Call it like any
scheduler, once after every ``optimizer.step()``::

    opt = torch.optim.Adam([{"params": G.parameters(), "lr": 1e-4, "name": "generator"},
                            {"params": D.parameters(), "lr": 4e-4, "name": "discriminator"}])
    sched = FDRScheduler(opt, delta=0.5, epsilon=0.1)
    for batch in data:
        ...; opt.zero_grad(); (loss_g + loss_d).backward(); opt.step()
        sched.step()
    sched.get_last_lr(), sched.metrics(), sched.verdict()

Players are the param groups (named by their ``"name"`` key, else
``group0``, ``group1``, …; ``players=`` merges or renames them); each is tested
separately, and every group's learning rate is multiplied by the same
factor, so TTUR ratios are kept. For a generator and a discriminator with
two separate optimisers, two schedulers decide separately; to keep their
ratio, put both in one optimiser as two param groups.

Costs: one copy of the parameters (``θ_t``), plus one more during a cycle
check; one device-to-host transfer per step (all statistics at once, never
one per tensor). Learning rates and statistics are float64. The history is
bounded (``history_size`` steps).
"""

from __future__ import annotations

from collections import deque
from typing import Any, Optional, Sequence

import numpy as np
import torch
from torch.optim.lr_scheduler import LRScheduler

from .rule import (ANCHOR, BASELINE, PHASES, RELAX, TRIAL, FDRConfig, FDRPlayerState,
                   FDRRuleState, anchor_length, rule_init, rule_update, verdict)

__all__ = ["FDRScheduler"]


def _to_torch(rule: FDRRuleState) -> dict:
    """The rule's state as plain dicts of float64/int64/bool tensors (``torch.load``-safe)."""
    out = {k: torch.as_tensor(np.asarray(v)) for k, v in rule._asdict().items() if k != "players"}
    out["players"] = {name: {k: torch.as_tensor(np.asarray(v)) for k, v in p._asdict().items()}
                      for name, p in rule.players.items()}
    return out


def _from_torch(data: dict) -> FDRRuleState:
    players = {name: FDRPlayerState(**{k: v.numpy().copy() for k, v in p.items()})
               for name, p in data["players"].items()}
    return FDRRuleState(**{k: v.numpy().copy() for k, v in data.items() if k != "players"},
                        players=players)


class FDRScheduler(LRScheduler):
    """Lowers every param group's learning rate by ``1 − δ`` at noise-driven stationarity.

    Args:
        optimizer: any ``torch.optim.Optimizer``.
        delta: on a drop every rate is multiplied by ``1 − δ``.
        epsilon: equivalence band of the test, relative to ``mean O_R``.
        test_interval: steps between tests.
        min_samples: steps since the last reset before the first test.
        n_batches: batches for the batch-means variance.
        alpha: the test's intervals have level ``1 − α``.
        max_window: steps of statistics kept.
        min_scale: the factor never goes below this.
        cycle_check: check that the stationarity is noise-driven before a drop.
        spread_threshold: the largest ratio of spreads read as noise-driven.
        cycle_patience: trials in a row that do not shrink before a cycle is declared.
        players: one name per param group (groups with the same name are one
            player); ``None`` names them by their ``"name"`` key or index.
        history_size: steps of :attr:`history` kept.
        last_epoch: as for every ``LRScheduler``.

    The settings are those of :func:`gandyn.schedules.scale_by_fdr` (see
    :mod:`gandyn.schedules.rule`).
    See the module docstring. ``state_dict()`` holds tensors and plain types
    only (``torch.load(weights_only=True)`` reads it back) and includes the
    parameter copy, so a resumed run gives the same learning rates.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, delta: float = 0.5,
                 epsilon: float = 0.1, *, test_interval: int = 100, min_samples: int = 200,
                 n_batches: int = 10, alpha: float = 0.05, max_window: int = 20_000,
                 min_scale: float = 0.0, cycle_check: bool = True,
                 spread_threshold: Optional[float] = None, cycle_patience: int = 2,
                 players: Optional[Sequence[str]] = None, history_size: int = 1000,
                 last_epoch: int = -1):
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not a torch.optim.Optimizer")
        groups = optimizer.param_groups
        if players is None:
            players = [str(g.get("name", f"group{i}")) for i, g in enumerate(groups)]
        players = [str(p) for p in players]
        if len(players) != len(groups):
            raise ValueError(f"players names {len(players)} groups, the optimizer has "
                             f"{len(groups)}")
        if not (isinstance(history_size, int) and history_size >= 0):
            raise ValueError("history_size must be a non-negative integer")
        self.config = FDRConfig(
            delta=float(delta), epsilon=float(epsilon), test_interval=test_interval,
            min_samples=min_samples, n_batches=n_batches, alpha=float(alpha),
            max_window=max_window, min_scale=float(min_scale), cycle_check=bool(cycle_check),
            spread_threshold=None if spread_threshold is None else float(spread_threshold),
            cycle_patience=cycle_patience).validate()
        self.players = players
        self.rule = rule_init(self.config, list(dict.fromkeys(players)))
        self.history: deque = deque(maxlen=history_size)
        self._previous: Optional[list] = None   # θ_t, one tensor per parameter, group by group
        self._anchor: Optional[list] = None     # Σθ over the anchor phase (cycle check only)
        self._factor = 1.0                      # this step's change of scale, for get_lr
        super().__init__(optimizer, last_epoch)

    # ------------------------------------------------------------------ the LRScheduler API
    def get_lr(self) -> list:
        """Every group's current rate times this step's change of scale (chainable)."""
        return [group["lr"] * self._factor for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list:
        """``initial lr × scale``; used at an explicit epoch (``SequentialLR``'s milestone).

        The scheduler was not stepped while another one ran, so the update
        since its last step is not one step's: it starts observing afresh.
        """
        self._previous = None
        return [base_lr * float(self.rule.scale) for base_lr in self.base_lrs]

    def step(self, epoch: Optional[int] = None) -> None:
        """Record the update the optimiser just applied, advance the rule, set the rates."""
        self._factor = 1.0
        if self._previous is not None and len(self._previous) != sum(1 for _ in self._params()):
            raise ValueError("the optimizer's parameters changed since the FDRScheduler was "
                             "made (add_param_group?): make a new FDRScheduler")
        if epoch is None and self._previous is not None:
            before = float(self.rule.scale)
            self._observe()
            self._factor = float(self.rule.scale) / before
        elif epoch is None:
            self._previous = self._snapshot()
        super().step(epoch)

    def state_dict(self) -> dict:
        data = {k: v for k, v in self.__dict__.items()
                if k not in ("optimizer", "rule", "history", "config")}
        data["rule"] = _to_torch(self.rule)
        data["history"] = list(self.history)
        data["history_size"] = self.history.maxlen
        data["config"] = self.config._asdict()
        return data

    def load_state_dict(self, state_dict: dict) -> None:
        data = dict(state_dict)
        config = FDRConfig(**data.pop("config"))
        if config != self.config:
            raise ValueError(f"the saved scheduler has other settings: {config} (this one: "
                             f"{self.config})")
        self.rule = _from_torch(data.pop("rule"))
        self.history = deque(data.pop("history"), maxlen=data.pop("history_size"))
        self.__dict__.update(data)

    # ------------------------------------------------------------------ what it reports
    @property
    def scale(self) -> float:
        """The factor every group's rate has been multiplied by."""
        return float(self.rule.scale)

    def metrics(self) -> dict:
        """Flat ``{name: float}`` as :func:`gandyn.schedules.fdr_metrics` (TensorBoard, W&B)."""
        r = self.rule
        out = {"fdr/scale": float(r.scale), "fdr/phase": int(r.phase),
               "fdr/n_drops": int(r.n_drops), "fdr/n_trials": int(r.n_trials),
               "fdr/cycle": bool(r.cycle)}
        several = len(r.players) > 1
        for name, p in r.players.items():
            tail = f"/{name}" if several else ""
            with np.errstate(invalid="ignore", divide="ignore"):
                spread = float(p.spread_after) / float(p.spread_before)
            out.update({f"fdr/ratio{tail}": float(p.ratio), f"fdr/ci_low{tail}": float(p.ci_low),
                        f"fdr/ci_high{tail}": float(p.ci_high),
                        f"fdr/passed{tail}": bool(p.passed), f"fdr/spread_ratio{tail}": spread})
        return out

    def verdict(self) -> str:
        """Where the schedule stands and why, in words (on a cycle: what would help)."""
        return verdict(self.rule)

    # ------------------------------------------------------------------ the statistics
    def _params(self):
        for group in self.optimizer.param_groups:
            yield from group["params"]

    def _snapshot(self) -> list:
        return [p.detach().clone() for p in self._params()]

    def _observe(self) -> None:
        """One step's ``(O_L, O_R, q)`` per player, from θ_t (kept) and θ_{t+1} (now)."""
        phase = int(self.rule.phase)
        if phase == ANCHOR and self._anchor is None:
            self._anchor = [torch.zeros_like(x) for x in self._previous]
        length = int(anchor_length(int(self.rule.phase_length)))
        names = list(self.rule.players)
        sums = {name: [] for name in names}   # float64 tensors, summed on the device
        device = self._previous[0].device if self._previous else torch.device("cpu")
        i = 0
        with torch.no_grad():
            for group, player in zip(self.optimizer.param_groups, self.players):
                for p in group["params"]:
                    x = self._previous[i]
                    d = p.detach() - x  # the update applied (exact: θ_{t+1} − θ_t)
                    terms = [-(x * d).sum(dtype=torch.float64),
                             0.5 * (d * d).sum(dtype=torch.float64)]
                    if phase in (BASELINE, TRIAL):
                        terms.append(((x - self._anchor[i] / length) ** 2).sum(dtype=torch.float64))
                    elif phase == ANCHOR:
                        self._anchor[i].add_(x)
                    sums[player].append(torch.stack(terms).to(device))
                    x.copy_(p.detach())
                    i += 1
            width = 3 if phase in (BASELINE, TRIAL) else 2
            per_player = [torch.stack(sums[n]).sum(0) if sums[n] else
                          torch.zeros(width, dtype=torch.float64, device=device) for n in names]
            values = torch.stack(per_player).cpu().numpy()  # the one transfer of the step
        inputs = {n: (v[0], v[1], v[2] if width == 3 else 0.0) for n, v in zip(names, values)}
        self.rule = rule_update(self.config, self.rule, inputs)
        if int(self.rule.phase) not in (ANCHOR, BASELINE, RELAX, TRIAL):
            self._anchor = None
        self.history.append({"step": int(self.rule.n_steps), "scale": float(self.rule.scale),
                             "phase": PHASES[int(self.rule.phase)],
                             **{f"o_left/{n}": float(v[0]) for n, v in zip(names, values)},
                             **{f"o_right/{n}": float(v[1]) for n, v in zip(names, values)}})

    def __repr__(self) -> str:
        return (f"FDRScheduler(scale={self.scale:.4g}, phase={PHASES[int(self.rule.phase)]}, "
                f"drops={int(self.rule.n_drops)}, cycle={bool(self.rule.cycle)})")

