from __future__ import annotations

import socket

from jlcompose.core.composemodel import Address, parse
from jlcompose.lab.http import lab_url, port_in_use, wait_ready
from jlcompose.lab.progress import BuildStatus


def test_build_status_follows_steps_and_output() -> None:
    s = BuildStatus()
    for line in [
        "#5 [torch internal] load build context",
        "#6 [torch stage-0 4/8] RUN --mount=type=cache,target=/root/.cache/pip   pip install uv",
        "#6 CACHED",
        "#12 [torch stage-0 8/8] RUN uv pip install -r requirements.txt",
        "#12 0.379 Resolved 1 package in 101ms",
    ]:
        s.feed(line)
    assert (s.step, s.total, s.cached) == (8, 8, 1)
    assert s.last_output == "Resolved 1 package in 101ms"
    assert s.describe(width=30).endswith("…") and len(s.describe(width=30)) == 30


def test_address_from_compose_config() -> None:
    cfg = {
        "services": {
            "torch": {
                "ports": [
                    {"target": 22, "published": "2222"},
                    {"target": 8888, "published": "18888", "host_ip": "127.0.0.1"},
                ]
            },
            "tf": {"ports": [{"target": 8888, "published": "8889", "host_ip": "0.0.0.0"}]},
        }
    }
    model = parse(cfg)
    assert model.services["torch"].address == Address("127.0.0.1", "127.0.0.1", 18888)
    assert model.services["tf"].address == Address("127.0.0.1", "0.0.0.0", 8889)
    assert parse({"services": {"none": {}}}).services["none"].address is None
    assert lab_url(Address("127.0.0.1", "127.0.0.1", 1), "t") == "http://127.0.0.1:1/lab?token=t"


def test_port_in_use() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert port_in_use("127.0.0.1", port)
    assert not port_in_use("127.0.0.1", port)


def test_wait_ready_gives_up_when_container_exits() -> None:
    calls: list[int] = []

    def alive() -> bool:
        calls.append(1)
        return False

    ok = wait_ready(
        Address("127.0.0.1", "127.0.0.1", 9),
        "t",
        timeout=30,
        still_alive=alive,
        sleep=lambda _: None,
    )
    assert ok is False and calls == [1]


def test_wait_ready_times_out() -> None:
    now = [0.0]

    def sleep(d: float) -> None:
        now[0] += d

    ok = wait_ready(
        Address("127.0.0.1", "127.0.0.1", 9),
        "t",
        timeout=5,
        still_alive=lambda: True,
        clock=lambda: now[0],
        sleep=sleep,
    )
    assert ok is False and now[0] >= 5
