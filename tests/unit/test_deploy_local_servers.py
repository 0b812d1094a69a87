"""`python -m deploy.local stop|start|restart NAME`: one server by name, no install on start."""

from __future__ import annotations

from typing import Any

import pytest

from deploy.local import process, servers
from deploy.local.cli.__main__ import main
from deploy.local.component import Component


def test_the_four_servers_have_names() -> None:
    assert set(servers.NAMES) == {"kafka", "ferretdb", "s3", "smtp"}


def test_an_unknown_name_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(process.StackError, match="no server named 'mongo'; choose one of"):
        servers.by_name("mongo")
    for command in ("stop", "start", "restart"):
        with pytest.raises(SystemExit) as exit_info:
            main([command, "mongo"])
        assert exit_info.value.code == 2
        assert "invalid choice: 'mongo'" in capsys.readouterr().err


def test_a_missing_name_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["stop"])
    assert exit_info.value.code == 2
    assert "the following arguments are required: name" in capsys.readouterr().err


class Fake(Component):
    name = "fake"
    ports = ()

    def __init__(self) -> None:
        self.installed = 0

    @property
    def marker(self) -> str:
        return "fake-marker"

    def install(self) -> None:
        self.installed += 1

    def argv(self) -> list[str]:
        return ["true"]

    def healthy(self) -> bool:
        return True


@pytest.mark.parametrize(("install", "installs"), [(True, 1), (False, 0)])
def test_starting_again_never_installs(
    monkeypatch: pytest.MonkeyPatch, install: bool, installs: int
) -> None:
    spawned: list[list[str]] = []

    def spawn(name: str, argv: list[str], **_: Any) -> int:
        spawned.append(argv)
        return 4242

    monkeypatch.setattr(process, "running_pid", lambda *_: None)
    monkeypatch.setattr(process, "spawn", spawn)
    monkeypatch.setattr(process, "wait_until", lambda *_, **__: None)
    fake = Fake()
    fake.up(install=install)
    assert fake.installed == installs
    assert spawned == [["true"]]


def test_start_and_stop_act_on_the_named_server_only(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, Any]] = []

    def stop(name: str, marker: str) -> bool:
        calls.append(("stop", name))
        return True

    monkeypatch.setattr(process, "stop", stop)
    monkeypatch.setattr(Component, "up", lambda self, **kw: calls.append(("up", (self.name, kw))))
    assert main(["restart", "s3"]) == 0
    assert calls == [("stop", "s3"), ("up", ("s3", {"install": False}))]
