"""Config validation, the workspace lock and the store's basic contract."""

from __future__ import annotations

import multiprocessing

import pytest
from click.testing import CliRunner

from chendian.cli import main
from chendian.config import DEFAULT_CONFIG_TEXT, ConfigError, parse_config
from chendian.store import Workspace, WorkspaceLocked


def test_default_config_text_parses_to_defaults():
    config = parse_config(DEFAULT_CONFIG_TEXT)
    assert config.ingest.timezone == "Asia/Shanghai"
    assert config.embed.model == "use-multilingual"
    assert config.site.names == "real"


@pytest.mark.parametrize(
    "text, message",
    [
        ("[ingest]\ntimezon = 'UTC'\n", "unknown key(s) timezon"),
        ("[ingst]\n", "unknown key(s) ingst"),
        ("[embed]\nbatch_size = 'big'\n", "embed.batch_size: expected int"),
        ("[ingest]\ntimezone = 'Mars/Olympus'\n", "unknown timezone"),
        ("[site]\nnames = 'everyone'\n", "site.names must be"),
        ("[ingest\n", "not valid TOML"),
    ],
)
def test_bad_config_is_a_clear_error(text, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_config(text, "ws/chendian.toml")


def test_bad_config_reaches_the_user_without_traceback(tmp_path):
    ws = tmp_path / "ws"
    runner = CliRunner()
    assert runner.invoke(main, ["init", str(ws)]).exit_code == 0
    (ws / "chendian.toml").write_text("[ingest]\ntimezon = 'UTC'\n", encoding="utf-8")
    result = runner.invoke(main, ["-w", str(ws), "stats"])
    assert result.exit_code == 1
    assert "unknown key(s) timezon" in result.output
    assert "Traceback" not in result.output


def test_not_a_workspace(tmp_path):
    result = CliRunner().invoke(main, ["-w", str(tmp_path / "nowhere"), "stats"])
    assert result.exit_code == 1
    assert "not a chendian workspace" in result.output


def _try_lock(path, queue):
    ws = Workspace(path)
    try:
        ws.lock("second run")
        queue.put("locked")
    except WorkspaceLocked as e:
        queue.put(str(e))
    finally:
        ws.close()


def test_two_processes_never_hold_the_lock_at_once(tmp_path):
    ws = Workspace(tmp_path / "ws", create=True)
    with ws.locked("first run"):
        queue = multiprocessing.get_context("spawn").Queue()
        p = multiprocessing.get_context("spawn").Process(target=_try_lock, args=(ws.root, queue))
        p.start()
        p.join(60)
        answer = queue.get(timeout=5)
    assert "is busy" in answer and "first run" in answer
    ws.lock("later run")  # released when the first run ended
    ws.close()


def test_lock_is_reentrant_within_one_run(tmp_path):
    ws = Workspace(tmp_path / "ws", create=True)
    with ws.locked("run"):
        with ws.locked("ingest"):
            pass
        assert ws._lock_fd is not None, "the inner stage must not release the run's lock"
    assert ws._lock_fd is None
    ws.close()


def test_init_writes_a_template_that_parses_back_to_the_defaults(tmp_path):
    # DEFAULT_CONFIG_TEXT is generated from the dataclasses: defaults are written once, in config.py
    import dataclasses
    import tomllib

    from click.testing import CliRunner

    from chendian.cli import main
    from chendian.config import Config

    assert CliRunner().invoke(main, ["init", str(tmp_path / "ws")]).exit_code == 0
    text = (tmp_path / "ws" / "chendian.toml").read_text(encoding="utf-8")
    assert parse_config(text) == Config()
    assert "names = \"real\"                 # real | pseudonym | initials" in text  # the comments users see
    # every key the template offers has its comment-free default right, and none is invented
    data = tomllib.loads(text)
    for section in dataclasses.fields(Config):
        keys = {f.name for f in dataclasses.fields(section.type if isinstance(section.type, type)
                                                  else type(getattr(Config(), section.name)))}
        assert set(data[section.name]) <= keys
