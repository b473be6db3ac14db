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
    assert f"resumed {b['resumed_pieces']} of 12 pieces from {out}/.checkpoints/weak-order" in err
    assert not list(out.glob(".*.tmp")) and not list(ckpt.glob(".*.tmp"))
    for ca, cb in zip(a["comparisons"], b["comparisons"]):
        assert ca["signed_error_final"] == cb["signed_error_final"]
        assert ca["error_max"] == cb["error_max"]
        assert ca["order_final_ci"] == cb["order_final_ci"]


REPORT = """
[report]
sections = ["kernel", "weak_order"]

[kernel]
parts = ["spectrum"]

[weak_order]
config = "study.toml"
"""


def _report(cfg, out, *extra):
    return subprocess.Popen([sys.executable, "-m", "gandyn.cli", "report", str(cfg), "--json",
                             "--out", str(out), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _numbers(report_json):
    return [(s["name"], s["summary"], s["tables"]) for s in report_json["sections"]]


def test_killed_report_resumes_finished_sections_and_pieces(tmp_path):
    # The study above with fewer paths: each of its pieces still takes long enough to kill between.
    (tmp_path / "study.toml").write_text(CONFIG.replace("paths = 3000", "paths = 1500"))
    cfg = tmp_path / "report.toml"
    cfg.write_text(REPORT)
    reference = _report(cfg, tmp_path / "ref", "--no-progress")
    _, err = reference.communicate(timeout=900)
    assert reference.returncode == 0, err
    # Kill once the kernel section is checkpointed and the weak-order study is part way.
    out = tmp_path / "killed"
    proc = _report(cfg, out, "--no-progress")
    kernel_done = out / ".checkpoints" / "report" / "kernel.json"
    pieces = out / "weak_order" / ".checkpoints" / "weak-order"
    deadline = time.time() + 600
    while time.time() < deadline and not (kernel_done.exists()
                                          and len(list(pieces.glob("*.npz"))) >= 3):
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert kernel_done.exists() and len(list(pieces.glob("*.npz"))) < 9
    assert not (out / "report.html").exists() and not (out / "report.json").exists()
    again = _report(cfg, out)  # the same command line (progress on, to see what it loaded)
    printed, err = again.communicate(timeout=900)
    assert again.returncode == 0, err
    assert "kernel: finished in an earlier run" in err
    status = {s["name"]: s["resumed"] for s in json.loads(printed)["sections"]}
    assert status == {"kernel": True, "weak_order": False}
    a = json.loads((tmp_path / "ref" / "report.json").read_text())
    b = json.loads((out / "report.json").read_text())
    assert b["sections"][1]["results"]["weak-order"]["resumed_pieces"] >= 3
    assert _numbers(a) == _numbers(b)
    assert not list(out.rglob(".*.tmp"))


def test_report_resume_is_keyed_on_the_configuration(tmp_path):
    cfg = tmp_path / "report.toml"
    cfg.write_text('[report]\nsections = ["kernel"]\n[kernel]\nparts = ["spectrum"]\n')
    out = tmp_path / "out"

    def run(*extra):
        proc = _report(cfg, out, "--no-progress", *extra)
        printed, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        return json.loads(printed)["sections"][0]

    first = run()
    assert first["resumed"] is False
    again = run()
    assert again["resumed"] is True and again["summary"] == first["summary"]
    assert run("--no-resume")["resumed"] is False
    cfg.write_text('[report]\nsections = ["kernel"]\n[kernel]\nparts = ["spectrum"]\nsigma = 0.5\n')
    changed = run()
    assert changed["resumed"] is False and changed["summary"] != first["summary"]
