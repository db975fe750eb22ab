"""The CLI's last line of defence: an error nobody planned for is one line, not a traceback."""

from __future__ import annotations

import pytest

import adopt.cli.plans
from adopt.cli import EXIT_INTERNAL, EXIT_INTERRUPTED, main

pytestmark = pytest.mark.usefixtures("own_log_handler")


def _raises(exc: BaseException):
    def command(args) -> None:
        raise exc

    return command


def test_an_unexpected_error_is_one_line_and_exit_1(monkeypatch, capsys):
    monkeypatch.setattr(adopt.cli.plans, "cmd_plan",
                        _raises(RuntimeError("solver library\nbroke")))
    assert main(["plan", "--config", "p.toml", "--workspace", "ws"]) == EXIT_INTERNAL
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines() == [
        "adopt: internal error in adopt plan: RuntimeError: solver library broke "
        "(run `adopt -v plan ...` for the traceback)"]


def test_verbose_shows_the_traceback(monkeypatch):
    monkeypatch.setattr(adopt.cli.plans, "cmd_plan", _raises(RuntimeError("broke")))
    with pytest.raises(RuntimeError, match="broke"):
        main(["-v", "plan", "--config", "p.toml", "--workspace", "ws"])


def test_an_interrupt_is_one_line_and_exit_130(monkeypatch, capsys):
    monkeypatch.setattr(adopt.cli.plans, "cmd_plan", _raises(KeyboardInterrupt()))
    assert main(["plan", "--config", "p.toml", "--workspace", "ws"]) == EXIT_INTERRUPTED
    assert capsys.readouterr().err.strip() == "adopt: adopt plan interrupted"
