"""The SparkSession an engine runs on: found, or started and later stopped with its JVM.

Spark allows one SparkContext per process.  A session the user started is used as it
is and never stopped.  A session bigfit starts is stopped by ``close()``, when its
engine is garbage-collected, or at interpreter exit; when bigfit also launched the JVM
(no Spark JVM was running in this process), that JVM is ended too, so nothing bigfit
started outlives it.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bigfit.exceptions import EngineError

logger = logging.getLogger("bigfit.engine.spark")

DEFAULT_MASTER = "local[*]"
_JVM_EXIT_SECONDS = 10.0
_lock = threading.Lock()


@dataclass(eq=False)
class SessionState:
    """The session an engine uses, and what of it the engine must release."""

    session: Any = None
    owned: bool = False  # started by bigfit: stop it on close
    owns_jvm: bool = False  # bigfit also launched the JVM: end it on close


def active_session() -> Any:
    """Return the SparkSession running in this process, or None."""
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession()
    if session is not None:
        return session
    context = SparkContext._active_spark_context
    return None if context is None else SparkSession(context)


def is_alive(session: Any) -> bool:
    """Whether ``session``'s SparkContext still runs."""
    return getattr(session.sparkContext, "_jsc", None) is not None


def acquire(master: str | None, app_name: str, config: Mapping[str, str]) -> SessionState:
    """Return the running session (when it fits ``master``) or start one.

    Raises
    ------
    EngineError
        A session with another master already runs in this process.
    """
    from pyspark import SparkContext

    with _lock:
        running = active_session()
        if running is not None:
            current = running.sparkContext.master
            if master is not None and current != master:
                raise EngineError(
                    f"A SparkSession with master {current!r} already runs in this process, and Spark "
                    f"allows one per process, so bigfit cannot start one on {master!r}. Use "
                    "engine='spark' to run on the running session, or stop it first.")
            return SessionState(running)
        launches_jvm = SparkContext._gateway is None
        session = _build(master or DEFAULT_MASTER, app_name, config)
        logger.info("Started a SparkSession on %s", session.sparkContext.master)
        return SessionState(session, owned=True, owns_jvm=launches_jvm)


def _build(master: str, app_name: str, config: Mapping[str, str]) -> Any:
    from pyspark.sql import SparkSession

    settings = {"spark.ui.showConsoleProgress": "false"}
    if master.startswith("local"):
        # Workers on this machine run this interpreter, so they import the same bigfit.  pyspark
        # reads the worker interpreter from PYSPARK_PYTHON (default: "python3" on the PATH).
        settings["spark.pyspark.python"] = sys.executable
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    settings.update(config)
    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        return builder.getOrCreate()
    except Exception as exc:  # pyspark raises bare RuntimeErrors and its own error types here
        raise EngineError(
            f"Could not start a SparkSession on master {master!r}: {type(exc).__name__}: "
            f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}. Spark needs Java 17 "
            "or later (JAVA_HOME); check the master URL.") from exc


def release(state: SessionState) -> None:
    """Stop the session if bigfit started it, and its JVM if bigfit launched that (idempotent)."""
    with _lock:
        session, owned, owns_jvm = state.session, state.owned, state.owns_jvm
        state.session, state.owned, state.owns_jvm = None, False, False
    if session is None or not owned:
        return
    try:
        session.stop()
    except Exception as exc:  # a JVM that already died: nothing left to stop there
        logger.warning("Stopping the SparkSession failed: %s", exc)
    if owns_jvm:
        _end_jvm()


def _end_jvm() -> None:
    """Close pyspark's gateway and end the JVM process it launched."""
    from pyspark import SparkContext

    gateway = SparkContext._gateway
    if gateway is None:
        return
    process = getattr(gateway, "proc", None)
    SparkContext._gateway = None
    SparkContext._jvm = None
    try:
        gateway.shutdown()
    except Exception as exc:  # already disconnected
        logger.debug("Closing the py4j gateway failed: %s", exc)
    if process is None:
        return
    # The JVM exits when its stdin closes (pyspark's gateway server watches it).
    if process.stdin is not None:
        process.stdin.close()
    try:
        process.wait(_JVM_EXIT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
