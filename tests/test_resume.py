"""A study killed with SIGKILL and started again ends with the same numbers.

The killed process kills itself with SIGKILL right after its k-th checkpoint
write (a wrapper patches the checkpoint store; nothing in gandyn knows), so
the kill lands at a known point however fast the machine is.
"""

import json
import os
import signal
import subprocess
import sys

CONFIG = """
[game]
kind = "tanh-wgan"
n_latent = 8
n_data = 8

[study]
batch_size = 8
horizon = 1.0
etas = [0.5, 0.25]
method = "monte-carlo"
paths = 600
seed = 5
# What is checked is the pieces and their checkpoints, not the maths: the SDE whose program
# compiles fastest (Euler, no extrapolation), so three cold commands do not pay for Heun.
substeps = 1
richardson = false
integrator = "euler"
comparisons = [{ scheme = "sml", sde = "sml-sde" }]
"""


# Runs the CLI; with a number as its first argument, SIGKILLs itself after that many saved pieces.
CLI = """
import os, signal, sys
kill_after = int(sys.argv.pop(1))
if kill_after:
    from gandyn.checkpoint import CheckpointStore
    save, saved = CheckpointStore.save_arrays, []

    def save_then_maybe_die(self, name, arrays):
        save(self, name, arrays)
        saved.append(name)
        if len(saved) == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)

    CheckpointStore.save_arrays = save_then_maybe_die
from gandyn.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _cli(*args, kill_after=0):
    return subprocess.Popen([sys.executable, "-c", CLI, str(kill_after), *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _run(cfg, out, kill_after=0):
    return _cli("weak-order", cfg, "--json", "--no-progress", "--out", out, kill_after=kill_after)


def test_sigkill_and_resume_gives_the_same_numbers(tmp_path):
    cfg = tmp_path / "study.toml"
    cfg.write_text(CONFIG)
    reference = _run(cfg, tmp_path / "ref")
    out_ref, err = reference.communicate(timeout=900)
    assert reference.returncode == 0, err
    # A second run dies by SIGKILL once it has saved 2 of its 4 pieces.
    out = tmp_path / "killed"
    proc = _run(cfg, out, kill_after=2)
    proc.communicate(timeout=900)
    assert proc.returncode == -signal.SIGKILL
    ckpt = out / ".checkpoints" / "weak-order"
    assert len(list(ckpt.glob("*.npz"))) == 2
    assert not (out / "weak_order.json").exists()   # nothing half-written where results go
    resumed = _run(cfg, out)
    out_resumed, err = resumed.communicate(timeout=900)
    assert resumed.returncode == 0, err
    a, b = json.loads(out_ref), json.loads(out_resumed)
    assert b["resumed_pieces"] == 2
    assert f"resumed {b['resumed_pieces']} of 4 pieces from {out}/.checkpoints/weak-order" in err
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


def _report(cfg, out, *extra, kill_after=0):
    return _cli("report", cfg, "--json", "--out", out, *extra, kill_after=kill_after)


def _numbers(report_json):
    return [(s["name"], s["summary"], s["tables"]) for s in report_json["sections"]]


def test_killed_report_resumes_finished_sections_and_pieces(tmp_path):
    (tmp_path / "study.toml").write_text(CONFIG)
    cfg = tmp_path / "report.toml"
    cfg.write_text(REPORT)
    reference = _report(cfg, tmp_path / "ref", "--no-progress")
    _, err = reference.communicate(timeout=900)
    assert reference.returncode == 0, err
    # Killed once the kernel section is checkpointed and 2 weak-order pieces are saved.
    out = tmp_path / "killed"
    proc = _report(cfg, out, "--no-progress", kill_after=2)
    proc.communicate(timeout=900)
    assert proc.returncode == -signal.SIGKILL
    kernel_done = out / ".checkpoints" / "report" / "kernel.json"
    pieces = out / "weak_order" / ".checkpoints" / "weak-order"
    assert kernel_done.exists() and len(list(pieces.glob("*.npz"))) == 2
    assert not (out / "report.html").exists() and not (out / "report.json").exists()
    again = _report(cfg, out)  # the same command line (progress on, to see what it loaded)
    printed, err = again.communicate(timeout=900)
    assert again.returncode == 0, err
    assert "kernel: finished in an earlier run" in err
    status = {s["name"]: s["resumed"] for s in json.loads(printed)["sections"]}
    assert status == {"kernel": True, "weak_order": False}
    a = json.loads((tmp_path / "ref" / "report.json").read_text())
    b = json.loads((out / "report.json").read_text())
    assert b["sections"][1]["results"]["weak-order"]["resumed_pieces"] == 2
    assert _numbers(a) == _numbers(b)
    assert not list(out.rglob(".*.tmp"))


def test_report_resume_is_keyed_on_the_configuration(tmp_path, capsys):
    from gandyn.cli import main

    cfg = tmp_path / "report.toml"
    cfg.write_text('[report]\nsections = ["kernel"]\n[kernel]\nparts = ["spectrum"]\n')
    out = tmp_path / "out"

    def run(*extra):  # in this process: which runs resume is decided by the files alone
        assert main(["report", str(cfg), "--json", "--out", str(out), "--no-progress", *extra]) == 0
        return json.loads(capsys.readouterr().out)["sections"][0]

    first = run()
    assert first["resumed"] is False
    again = run()
    assert again["resumed"] is True and again["summary"] == first["summary"]
    assert run("--no-resume")["resumed"] is False
    cfg.write_text('[report]\nsections = ["kernel"]\n[kernel]\nparts = ["spectrum"]\nsigma = 0.5\n')
    changed = run()
    assert changed["resumed"] is False and changed["summary"] != first["summary"]
