"""``strongbox worker --only``: the groups it knows, and what each one runs."""

from __future__ import annotations

from typer.testing import CliRunner

from strongbox.cli.main import app
from strongbox.runtime import Runtime
from strongbox.workers.loops import GROUPS, build_workers


def test_an_unknown_group_is_refused_before_anything_starts() -> None:
    result = CliRunner().invoke(app, ["worker", "--only", "relay,teleport"])
    assert result.exit_code == 2
    assert "teleport" in result.output


def test_every_loop_belongs_to_a_group_and_groups_select_their_loops(runtime: Runtime) -> None:
    everything = build_workers(runtime)
    names = {loop.short_name for loop in everything.loops}
    grouped = {loop.short_name for loop in build_workers(runtime, set(GROUPS)).loops}
    assert grouped == names  # `--only` with every group runs what `serve` runs
    only = build_workers(runtime, {"settlement", "payouts"})
    assert sorted(loop.short_name for loop in only.loops) == [
        "payouts",
        "settlement-closer",
    ]  # the in-process bus: its relay calls the settlement consumer
