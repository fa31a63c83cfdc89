"""`bench run --executor ray` with no `--address` starts a Ray instance that nothing off this machine can
reach: run through the command line in a child process (whose environment does not ask Ray for its
single-machine mode: the executor must), every listening socket of every process of the run is watched
while it runs, and every address Ray reports is read from the run's own output."""

import ipaddress
import os
import subprocess
import sys
import time

import psutil
import pytest

from bench.run.ray_executor import SINGLE_MACHINE_ENV

pytestmark = pytest.mark.slow


def _listening(root: psutil.Process) -> set[tuple[str, str, int]]:
    """(process name, address, port) of every listening socket of `root` and its descendants."""
    seen = set()
    for process in [root, *root.children(recursive=True)]:
        try:
            name = process.name()
            for conn in process.net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN:
                    seen.add((name, conn.laddr.ip, conn.laddr.port))
        except psutil.Error:  # a process that ended between the listing and the look
            continue
    return seen


def _is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return ip.is_loopback or (ip.version == 6 and ip.ipv4_mapped is not None and ip.ipv4_mapped.is_loopback)


def test_the_local_ray_instance_listens_on_loopback_only(tmp_path):
    env = {key: value for key, value in os.environ.items() if key != SINGLE_MACHINE_ENV}
    command = [sys.executable, "-m", "bench", "run", "--executor", "ray", "--codecs", "raw,gzip,zpaq:method=4",
               "--split", "test", "--limit", "2000", "--out", str(tmp_path / "out"), "--no-report",
               "--cache-dir", str(tmp_path / "cache")]
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    root, seen = psutil.Process(child.pid), set()
    while child.poll() is None:
        seen |= _listening(root)
        time.sleep(0.1)
    output = child.stdout.read()
    assert child.returncode == 0, output
    assert "Ray (local instance on 127.0.0.1:" in output and "6 row(s), 0 failed" in output  # each in both framings
    names = {name for name, _, _ in seen}
    # The node's own servers were caught listening, and the workers that ran the cells.
    assert {"gcs_server", "raylet"} <= names and any(name.startswith("ray::") for name in names), sorted(seen)
    exposed = sorted(entry for entry in seen if not _is_loopback(entry[1]))
    assert not exposed, f"listening beyond loopback: {exposed}"
    print(f"{len(seen)} listening sockets of {len(names)} kinds of process, all on loopback: "
          f"{sorted({address for _, address, _ in seen})}")
