"""state.py: the typed, versioned owner of .jlcompose/."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from jlcompose.errors import StateError
from jlcompose.state import SCHEMA, ServiceState, State, StateDir

# what jlcompose 0.1 wrote (no schema number), taken from a real project
OLD = {
    "gpu_support": {"ID|20.10.24|io.containerd.runc.v2|runc": False},
    "services": {
        "torch": {
            "address": ["127.0.0.1", "127.0.0.1", 8888],
            "applied": "six\n",
            "config_digest": "d" * 64,
            "container": "c" * 64,
            "fast_key": "f" * 64,
            "hot_installed": ["six==1.16.0"],
            "mode": "cpu",
            "removed": [],
            "tag": "0123456789ab",
        }
    },
}


def test_a_0_1_state_file_is_read_as_schema_1(tmp_path: Path) -> None:
    store = StateDir(tmp_path)
    store.state_file.write_text(json.dumps(OLD))
    state = store.read()
    torch = state.peek("torch")
    assert torch.address == ("127.0.0.1", "127.0.0.1", 8888) and torch.mode == "cpu"
    assert torch.hot_installed == ["six==1.16.0"] and torch.tag == "0123456789ab"
    assert state.gpu_support == {"ID|20.10.24|io.containerd.runc.v2|runc": False}
    store.update(lambda s: None)  # written back with its schema number, nothing lost
    written = json.loads(store.state_file.read_text())
    assert written["schema"] == SCHEMA and written["services"]["torch"]["applied"] == "six\n"


def test_a_newer_schema_is_refused_in_one_sentence(tmp_path: Path) -> None:
    store = StateDir(tmp_path)
    store.state_file.write_text(json.dumps({"schema": SCHEMA + 1, "services": {}}))
    with pytest.raises(StateError) as exc:
        store.read()
    assert "written by a newer jlcompose" in exc.value.message and exc.value.exit_code == 2
    before = store.state_file.read_bytes()
    with pytest.raises(StateError):
        store.update(lambda s: None)
    assert store.state_file.read_bytes() == before  # refused, not overwritten


def test_wrong_types_fall_back_to_defaults(tmp_path: Path) -> None:
    store = StateDir(tmp_path)
    store.state_file.write_text(
        json.dumps({"services": {"torch": {"hot_installed": "six", "address": [1], "mode": 3}, "tf": []}})
    )
    torch = store.read().peek("torch")
    assert torch == ServiceState()
    store.state_file.write_text("{not json")
    assert store.read() == State()


def test_peek_never_adds_and_service_does(tmp_path: Path) -> None:
    state = State()
    assert state.peek("torch") == ServiceState() and state.services == {}
    state.service("torch").mode = "gpu"
    assert state.peek("torch").mode == "gpu"


def test_updates_from_threads_lose_nothing(tmp_path: Path) -> None:
    store = StateDir(tmp_path)

    def add(i: int) -> None:
        store.update(lambda s: s.service("torch").hot_installed.append(f"pkg{i}"))

    threads = [threading.Thread(target=add, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(store.read().peek("torch").hot_installed) == sorted(f"pkg{i}" for i in range(10))


def test_the_token_is_made_once_private_and_only_on_request(tmp_path: Path) -> None:
    store = StateDir(tmp_path / ".jlcompose")
    assert store.read_token() is None and not store.path.exists()
    token = store.token()
    assert len(token) >= 32 and store.token() == token == store.read_token()
    assert store.token_file.stat().st_mode & 0o777 == 0o600
    assert (store.path / ".gitignore").read_text() == "*\n"


def test_a_file_of_another_user_is_one_sentence_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = StateDir(tmp_path)
    store.token_file.write_text("x" * 48)

    def denied(self: Path, *args: object, **kwargs: object) -> str:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_text", denied)  # as root, chmod alone would not deny
    with pytest.raises(StateError) as exc:
        store.read_token()
    assert str(store.token_file) in exc.value.message and "sudo" in exc.value.message
    assert exc.value.hint == f"give it back: sudo chown -R $(id -u):$(id -g) {tmp_path}"
