"""Regenerate the numbers the documentation quotes, from the commands named beside them.

Every generated block in the docs sits between two markers naming the command that makes it::

    <!-- gandyn:generated train examples/train_ring.toml -->
    | optimizer | ... |
    <!-- gandyn:end -->

This script runs each named command's study in this process and writes its table between the
markers (and, for training studies, the figure to docs/figures/). Usage, from the repository
root::

    python scripts/regenerate_docs.py            # every generated block
    python scripts/regenerate_docs.py train_ring # only the blocks whose config path contains it

The training studies take a few minutes each on 2 CPU cores (see docs/train.md).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
BLOCK = re.compile(r"(<!-- gandyn:generated (\w[\w-]*) (\S+) -->\n)(.*?)(<!-- gandyn:end -->)", re.S)


def generate(command: str, config: str) -> str:
    """The Markdown a block shows: the study's own table for ``gandyn COMMAND CONFIG``."""
    from gandyn.io import save_figure
    from gandyn.studies import train
    from gandyn.studies.config import load_toml, parse_config

    if command != "train":
        raise ValueError(f"no generator for 'gandyn {command}'")
    result = train.run(parse_config(train.TrainConfig, load_toml(ROOT / config)))
    data = result.to_json()
    for written in save_figure(train.plot_training(data), DOCS / "figures", Path(config).stem):
        if written.endswith(".svg"):  # the docs show the PNG
            Path(written).unlink()
    reference = train.PACGAN_GAN_TABLE1.get(data["dataset"])
    lines = [train.results_table(data, reference=reference), "",
             f"(`gandyn train {config}`: {data['steps']} steps, batch {data['batch_size']}, "
             f"{len(data['results'][0]['seeds'])} seeds; mean ± standard error over the finite "
             f"seeds; final η: the distinct final rates of the seeds."]
    if reference:
        lines[-1] += (" The last row is PacGAN's published GAN baseline (Table 1: 10 trials, "
                      "its own networks and 400 000 steps of Adam), not a run of this command.")
    for r in data["results"]:
        if "n_drops" in r:
            lowered = sum(1 for d in r["n_drops"] if d)
            lines[-1] += (f" {r['optimizer']}: η lowered in {lowered} of {len(r['n_drops'])} "
                          f"seeds ({sum(r['n_drops'])} drops), {sum(r['n_trials'])} cycle-check "
                          f"trials, {sum(r['cycle'])} cycle verdicts; last test statistic "
                          f"(mean O_L / mean O_R of the player farthest from 1) "
                          f"{_spread(r['fdr_last_ratio'])}.")
    lines[-1] += ")"
    return "\n".join(lines) + "\n"


def _spread(values) -> str:
    import math

    finite = sorted(v for v in values if v is not None and math.isfinite(v))
    if not finite:
        return "not computed (no test ran)"
    return f"{finite[0]:.2f} to {finite[-1]:.2f}" if len(finite) > 1 else f"{finite[0]:.2f}"


def main(selected: list[str]) -> int:
    for page in sorted(DOCS.glob("*.md")):
        text = page.read_text(encoding="utf-8")

        def replace(m):
            head, command, config, _, end = m.groups()
            if selected and not any(s in config for s in selected):
                return m.group(0)
            print(f"{page.name}: gandyn {command} {config}", file=sys.stderr)
            return head + generate(command, config) + end

        new = BLOCK.sub(replace, text)
        if new != text:
            page.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
