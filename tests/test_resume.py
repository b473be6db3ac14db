"""A study killed with SIGKILL and started again ends with the same numbers."""

import json
import os
import signal
import subprocess
import sys
import time

CONFIG = """
[game]
kind = "tanh-wgan"
n_latent = 8
n_data = 8

[study]
batch_size = 8
horizon = 1.0
etas = [0.5, 0.25, 0.125]
method = "monte-carlo"
paths = 3000
seed = 5
comparisons = [{ scheme = "alt", sde = "alt-sde" }, { scheme = "sml", sde = "sml-sde" }]
"""


def _run(cfg, out, **kw):
    return subprocess.Popen([sys.executable, "-m", "gandyn.cli", "weak-order", str(cfg), "--json",
                             "--no-progress", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def test_sigkill_and_resume_gives_the_same_numbers(tmp_path):
    cfg = tmp_path / "study.toml"
    cfg.write_text(CONFIG)
    reference = _run(cfg, tmp_path / "ref")
    out_ref, err = reference.communicate(timeout=900)
    assert reference.returncode == 0, err
    # Kill a second run once it has finished some pieces but not all.
    out = tmp_path / "killed"
    proc = _run(cfg, out)
    ckpt = out / ".checkpoints" / "weak-order"
    deadline = time.time() + 600
    while time.time() < deadline and len(list(ckpt.glob("*.npz"))) < 3:
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(list(ckpt.glob("*.npz")))
    assert 3 <= done_before < 9, done_before
    assert not (out / "weak_order.json").exists()   # nothing half-written where results go
    resumed = _run(cfg, out)
    out_resumed, err = resumed.communicate(timeout=900)
    assert resumed.returncode == 0, err
    a, b = json.loads(out_ref), json.loads(out_resumed)
    assert b["resumed_pieces"] >= 3
    assert not list(out.glob(".*.tmp")) and not list(ckpt.glob(".*.tmp"))
    for ca, cb in zip(a["comparisons"], b["comparisons"]):
        assert ca["signed_error_final"] == cb["signed_error_final"]
        assert ca["error_max"] == cb["error_max"]
        assert ca["order_final_ci"] == cb["order_final_ci"]
