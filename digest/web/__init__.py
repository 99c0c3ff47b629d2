"""The subscribers' web app (FastAPI + Jinja) and the long-running ``serve`` entry point."""

from __future__ import annotations

import threading
from pathlib import Path

from digest.day.shard import MissingSecret, open_store
from digest.settings import Settings
from digest.web.app import create_app
from digest.web.server import uvicorn_options

__all__ = ["MissingSecret", "create_app", "serve"]


def serve(
    settings: Settings,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    config_file: Path | None = None,
    log_level: str = "info",
) -> None:
    """Run the web app with uvicorn and, in the same process, the scheduler that
    collects and delivers; one process is the whole installation. With more than one
    ``serve`` (or ``schedule``), one scheduler runs: this one starts when it holds the
    scheduler lock. The scheduler stops (letting a running job finish) when the
    server does."""
    import uvicorn
    from apscheduler.schedulers.background import BackgroundScheduler

    from digest.schedule import configure, lead

    app = create_app(settings)
    scheduler = BackgroundScheduler()
    configure(scheduler, settings, config_file)
    store = open_store(settings)
    stop = threading.Event()
    lock = store.exclusive("scheduler")

    def schedule_while_leading() -> None:
        held = lock if lock.held else lead(store, stop)
        if held is not None:
            if not scheduler.running:
                scheduler.start()
            stop.wait()
            scheduler.shutdown()
            held.release()

    if lock.try_acquire():
        scheduler.start()  # before the first request, as with one process
    leader = threading.Thread(target=schedule_while_leading, name="scheduler", daemon=True)
    leader.start()
    try:
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level=log_level,
            proxy_headers=True,
            server_header=False,
            **uvicorn_options(settings),
        )
    finally:
        stop.set()
        leader.join()
        store.close()
