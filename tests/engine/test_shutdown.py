"""No worker outlives its driver: Ctrl-C, and exit without ``close()``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil

CTRL_C_DRIVER = textwrap.dedent("""
    import os, sys, time
    from bigfit.engine import get_engine

    def slow(item):
        open(os.path.join(sys.argv[1], f"started-{item}"), "w").close()
        time.sleep(120)
        return item

    if __name__ == "__main__":
        get_engine("local[2]").map(slow, range(8))
""")

RESUME_DRIVER = textwrap.dedent("""
    import os, sys, time
    from bigfit.engine import get_engine

    def slow(item):
        open(os.path.join(sys.argv[1], f"started-{os.getpid()}"), "w").close()
        time.sleep(120)
        return item

    def alive(pid):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    if __name__ == "__main__":
        engine = get_engine("local[2]")
        try:
            engine.map(slow, range(8))
        except KeyboardInterrupt:
            names = [n for n in os.listdir(sys.argv[1]) if n.startswith("started-")]
            pids = [int(n.split("-")[1]) for n in names]
            print("interrupted; old workers alive:", sum(map(alive, pids)), flush=True)
        print(engine.map(abs, [-1, -2]), flush=True)
""")

EXIT_DRIVER = textwrap.dedent("""
    import os
    from bigfit.engine import get_engine

    if __name__ == "__main__":
        engine = get_engine("local[2]")
        folder = os.path.dirname(engine.broadcast([1, 2, 3]).path)
        pids = sorted(set(engine.map(lambda _: os.getpid(), range(20))))
        print(folder, *pids, flush=True)
""")


def _wait_for(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_ctrl_c_stops_the_map_and_every_worker(tmp_path: Path) -> None:
    script = tmp_path / "driver.py"
    script.write_text(CTRL_C_DRIVER)
    driver = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,  # its own process group, as a terminal's Ctrl-C sees it
    )
    try:
        _wait_for(lambda: len(list(tmp_path.glob("started-*"))) >= 2, timeout=60)
        family = psutil.Process(driver.pid).children(recursive=True)
        assert len(family) >= 2
        started = time.monotonic()
        os.killpg(driver.pid, signal.SIGINT)
        _, stderr = driver.communicate(timeout=30)
        assert time.monotonic() - started < 10
        assert driver.returncode != 0
        assert "KeyboardInterrupt" in stderr
        assert stderr.count("Traceback") == 1, stderr  # the driver's, nothing from workers
        _, alive = psutil.wait_procs(family, timeout=10)
        assert not alive, f"processes survived Ctrl-C: {alive}"
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()


def test_interrupted_engine_stops_its_workers_and_runs_again(tmp_path: Path) -> None:
    script = tmp_path / "driver.py"
    script.write_text(RESUME_DRIVER)
    driver = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        _wait_for(lambda: len(list(tmp_path.glob("started-*"))) >= 2, timeout=60)
        driver.send_signal(signal.SIGINT)
        stdout, stderr = driver.communicate(timeout=60)
        assert driver.returncode == 0, stderr
        assert stdout.splitlines() == ["interrupted; old workers alive: 0", "[1, 2]"]
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()


def test_exit_without_close_stops_workers_and_removes_files(tmp_path: Path) -> None:
    script = tmp_path / "driver.py"
    script.write_text(EXIT_DRIVER)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    folder, *pids = done.stdout.split()
    assert 1 <= len(pids) <= 2
    workers = []
    for pid in pids:
        try:
            workers.append(psutil.Process(int(pid)))
        except psutil.NoSuchProcess:
            continue
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, f"workers outlived the driver: {alive}"
    assert not Path(folder).exists()
