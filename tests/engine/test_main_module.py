"""Workers never run the driver's main module, and objects defined there still travel."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import textwrap
from pathlib import Path

# No `if __name__ == "__main__":` guard: a spawn child that ran this script would start
# its own pool (and fail in bootstrapping) and append a second line to the log.
UNGUARDED_DRIVER = textwrap.dedent("""
    import dataclasses, os, sys
    from bigfit.engine import get_engine

    with open(sys.argv[1], "a") as log:
        print("main module ran in", os.getpid(), file=log)

    @dataclasses.dataclass
    class Point:
        x: int

    def double(point):
        return Point(point.x * 2)

    with get_engine("local[2]") as engine:
        doubled = engine.map(double, [Point(1), Point(2), Point(3)])
        workers = set(engine.map(lambda _: os.getpid(), range(8)))
    assert all(type(p) is Point for p in doubled), [type(p) for p in doubled]
    print([p.x for p in doubled], os.getpid() not in workers)
""")


def test_a_script_without_a_main_guard_runs_once_and_its_classes_travel(tmp_path: Path) -> None:
    script, log = tmp_path / "driver.py", tmp_path / "log.txt"
    script.write_text(UNGUARDED_DRIVER)
    done = subprocess.run([sys.executable, str(script), str(log)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[0] == "[2, 4, 6] True"
    assert len(log.read_text().splitlines()) == 1, log.read_text()


def test_other_spawned_processes_still_import_the_main_module() -> None:
    from multiprocessing import spawn

    import bigfit.engine._spawn

    data = spawn.get_preparation_data("plain")
    main = sys.modules["__main__"]
    if getattr(main.__spec__, "name", None) is not None or getattr(main, "__file__", None):
        assert {"init_main_from_name", "init_main_from_path"} & data.keys()
    assert multiprocessing.get_context("spawn").Process is not bigfit.engine._spawn.WorkerContext.Process
