"""The PyTorch scheduler: a real LRScheduler that follows the same rule as the optax one."""

import importlib.util
import io
import pickle
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                                reason="PyTorch not installed")

KNOBS = dict(delta=0.5, epsilon=0.2, test_interval=20, min_samples=100, max_window=2000)


def _problem(seed=0, lrs=(0.1, 0.4), optimizer="sgd"):
    """A noisy quadratic in two param groups (players): stationary after a few dozen steps."""
    import torch

    torch.manual_seed(seed)
    g = torch.nn.Parameter(torch.full((3,), 2.0, dtype=torch.float64))
    d = torch.nn.Parameter(torch.full((2,), -1.0, dtype=torch.float64))
    groups = [{"params": [g], "lr": lrs[0], "name": "generator"},
              {"params": [d], "lr": lrs[1], "name": "discriminator"}]
    if optimizer == "sgd":
        opt = torch.optim.SGD(groups, lr=lrs[0])
    elif optimizer == "momentum":
        opt = torch.optim.SGD(groups, lr=lrs[0], momentum=0.5)
    else:
        opt = torch.optim.Adam(groups, lr=lrs[0], betas=(0.5, 0.999))
    return g, d, opt


def _train(g, d, opt, sched, n_steps, seed=1):
    import torch

    gen = torch.Generator().manual_seed(seed)
    lrs = []
    for _ in range(n_steps):
        opt.zero_grad()
        g.grad = g.detach() + torch.randn(3, generator=gen, dtype=torch.float64)
        d.grad = 2 * d.detach() + torch.randn(2, generator=gen, dtype=torch.float64)
        opt.step()
        sched.step()
        lrs.append(sched.get_last_lr())
    return lrs


def test_importing_and_stepping_it_does_not_import_jax():
    code = ("import sys, torch; from gandyn.schedules.torch import FDRScheduler\n"
            "p = torch.nn.Parameter(torch.ones(2)); opt = torch.optim.SGD([p], lr=0.1)\n"
            "s = FDRScheduler(opt)\n"
            "for _ in range(3):\n    p.grad = p.detach().clone(); opt.step(); s.step()\n"
            "print(sorted(m for m in ('jax', 'jaxlib', 'optax', 'equinox') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_it_is_an_lr_scheduler_that_keeps_the_ttur_ratio():
    import torch

    from gandyn.schedules.torch import FDRScheduler

    g, d, opt = _problem()
    sched = FDRScheduler(opt, cycle_check=False, **KNOBS)
    assert isinstance(sched, torch.optim.lr_scheduler.LRScheduler)
    assert sched.players == ["generator", "discriminator"]
    lrs = _train(g, d, opt, sched, 600)
    assert sched.scale < 1 and int(sched.rule.n_drops) >= 1
    for lr_g, lr_d in lrs:
        assert type(lr_g) is float and lr_d / lr_g == pytest.approx(4.0, rel=1e-12)
    assert lrs[-1][0] == pytest.approx(0.1 * sched.scale, rel=1e-12)
    assert [group["lr"] for group in opt.param_groups] == lrs[-1]
    metrics = sched.metrics()
    assert metrics["fdr/scale"] == sched.scale and "fdr/ratio/generator" in metrics
    assert all(isinstance(v, (int, float, bool)) for v in metrics.values())


def test_after_adam_the_cycle_check_confirms_and_drops():
    from gandyn.schedules.torch import FDRScheduler

    g, d, opt = _problem(lrs=(0.1, 0.2), optimizer="adam")
    sched = FDRScheduler(opt, **KNOBS)
    _train(g, d, opt, sched, 4500)
    assert int(sched.rule.n_drops) >= 1 and not bool(sched.rule.cycle), sched.verdict()
    assert sched.verdict().startswith("noise-driven")
    assert all(r < 0.75 for k, r in sched.metrics().items() if k.startswith("fdr/spread_ratio"))


def test_state_dict_round_trip_resumes_with_the_same_learning_rates(tmp_path):
    import torch

    from gandyn.schedules.torch import FDRScheduler

    g, d, opt = _problem()
    sched = FDRScheduler(opt, history_size=50, **KNOBS)
    straight = _train(g, d, opt, sched, 400, seed=1) + _train(g, d, opt, sched, 400, seed=2)

    g, d, opt = _problem()
    sched = FDRScheduler(opt, history_size=50, **KNOBS)
    first = _train(g, d, opt, sched, 400, seed=1)
    assert sched.rule.phase != 0  # saved in the middle of a cycle check
    torch.save({"g": g.detach(), "d": d.detach(), "opt": opt.state_dict(),
                "sched": sched.state_dict()}, tmp_path / "checkpoint.pt")
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=True)  # plain types only
    g2, d2, opt2 = _problem(seed=7)
    with torch.no_grad():
        g2.copy_(saved["g"])
        d2.copy_(saved["d"])
    sched2 = FDRScheduler(opt2, history_size=50, **KNOBS)  # the scheduler before the optimizer
    opt2.load_state_dict(saved["opt"])
    sched2.load_state_dict(saved["sched"])
    resumed = first + _train(g2, d2, opt2, sched2, 400, seed=2)
    assert resumed == straight  # the same floats, step for step
    assert int(sched2.rule.n_trials) >= 1 and len(sched2.history) == 50  # bounded
    with pytest.raises(ValueError, match="other settings"):
        FDRScheduler(opt2, delta=0.3).load_state_dict(saved["sched"])


def test_pickle_round_trip():
    from gandyn.schedules.torch import FDRScheduler

    g, d, opt = _problem()
    sched = FDRScheduler(opt, **KNOBS)
    _train(g, d, opt, sched, 300)
    copy = pickle.loads(pickle.dumps(sched))
    assert copy.get_last_lr() == sched.get_last_lr() and copy.scale == sched.scale
    assert repr(copy) == repr(sched)
    buffer = io.BytesIO()
    pickle.dump(copy.state_dict(), buffer)


def test_chained_with_exponential_decay_the_factors_multiply():
    import torch

    from gandyn.schedules.torch import FDRScheduler

    g, d, opt = _problem()
    fdr = FDRScheduler(opt, cycle_check=False, **KNOBS)
    decay = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.999)
    chained = torch.optim.lr_scheduler.ChainedScheduler([fdr, decay], optimizer=opt)
    lrs = _train(g, d, opt, chained, 600)
    assert fdr.scale < 1
    assert lrs[-1][0] == pytest.approx(0.1 * 0.999**600 * fdr.scale, rel=1e-9)
    assert lrs[-1][1] / lrs[-1][0] == pytest.approx(4.0, rel=1e-12)


def test_after_a_warmup_in_sequential_lr_it_starts_afresh():
    import torch

    from gandyn.schedules.torch import FDRScheduler

    g, d, opt = _problem()
    warmup = torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.1, total_iters=50)
    fdr = FDRScheduler(opt, cycle_check=False, **KNOBS)
    seq = torch.optim.lr_scheduler.SequentialLR(opt, [warmup, fdr], milestones=[50])
    lrs = _train(g, d, opt, seq, 700)
    assert lrs[49][0] == pytest.approx(0.1)      # the milestone: the initial rate × scale 1
    assert lrs[10][0] < 0.1                      # the warmup before it
    # It recorded only the updates made after the milestone, each one step long.
    assert int(fdr.rule.n_steps) == 700 - 50 - 1
    assert fdr.scale < 1 and lrs[-1][0] == pytest.approx(0.1 * fdr.scale)


def test_no_per_tensor_device_sync(monkeypatch):
    """All statistics of a step come to the host in one transfer, never tensor by tensor."""
    import torch

    from gandyn.schedules.torch import FDRScheduler

    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = FDRScheduler(opt, **KNOBS)
    calls = {"item": 0, "float": 0, "tolist": 0, "cpu": 0}
    counting_on = [False]
    for name in calls:
        attribute = "__float__" if name == "float" else name
        original = getattr(torch.Tensor, attribute)

        def counting(self, *args, _original=original, _name=name, **kwargs):
            calls[_name] += counting_on[0]
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, attribute, counting)
    for _ in range(5):
        model(torch.randn(8, 3)).pow(2).sum().backward()
        opt.step()                  # Adam itself reads its step counts: not counted
        counting_on[0] = True
        sched.step()
        counting_on[0] = False
    assert calls["item"] == calls["float"] == calls["tolist"] == 0
    assert calls["cpu"] == 5  # one per step, for four parameter tensors


def test_bad_settings_are_refused():
    import torch

    from gandyn.schedules.torch import FDRScheduler

    p = torch.nn.Parameter(torch.ones(2))
    opt = torch.optim.SGD([p], lr=0.1)
    with pytest.raises(ValueError, match="delta"):
        FDRScheduler(opt, delta=1.5)
    with pytest.raises(ValueError, match="players"):
        FDRScheduler(opt, players=["a", "b"])
    with pytest.raises(TypeError):
        FDRScheduler([opt])
    sched = FDRScheduler(opt)
    np.testing.assert_equal(sched.get_last_lr(), [0.1])
    opt.add_param_group({"params": [torch.nn.Parameter(torch.ones(3))]})
    opt.step()
    with pytest.raises(ValueError, match="new FDRScheduler"):
        sched.step()
