"""The exhunt console: a Textual app over one case.

The app paints its first screen at once and loads the case (ingest, marks, hunts) in a
thread worker, showing progress; on the first load each hunt's screen appears as soon as that
hunt has run. `r` reruns the hunts the same way, the old results staying on screen until the
new ones are all in. Mouse reporting stays off unless asked for: over SSH it floods the terminal and
analysts drive this with the keyboard.
"""
from __future__ import annotations

from typing import Any

from textual.app import App
from textual.worker import Worker, WorkerState, get_current_worker

from tui import keys
from tui.screens.help import HelpScreen, hunt_descriptions
from tui.screens.main import MainScreen
from tui.screens.palette import JumpProvider
from tui.screens.rows import finding_tables, hunt_tables
from tui.screens.state import CaseData, CaseSource, load_case


class LoadCancelled(Exception):
    """The console is closing: raised from the load's progress reports, it stops the ingest
    (which then interrupts its DuckDB reads and records nothing for the files it was on)
    and the hunts not yet run."""


class ExhuntApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "exhunt"
    BINDINGS = keys.bindings("app")
    COMMANDS = App.COMMANDS | {JumpProvider}
    COMMAND_PALETTE_BINDING = keys.key("palette").key

    def __init__(self, source: CaseSource, *, case: Any = None) -> None:
        super().__init__()
        self.source = source
        self._case = case  # an already opened engine.case.Case (tests, re-runs)
        self.main = MainScreen()
        # Keyboard tool over SSH: no animations to wait for, identical frames for snapshots.
        self.animation_level = "none"

    def on_mount(self) -> None:
        # MainScreen starts the load once it is mounted (see MainScreen.on_mount).
        self.push_screen(self.main)

    def load_case(self) -> None:
        """Open, ingest, read the marks and hunt in a background thread."""
        source, case = self.source, self._case
        # The first load shows each hunt as it finishes; a re-run keeps the old results on
        # screen until the new ones are all in (no screen the analyst is on goes away).
        progressive = self.main.data is None
        if not progressive:
            case = self.main.data.case

        # The load's worker, for reports that come from the ingest's heartbeat thread too.
        this_load: list[Worker] = []

        def stop_if_cancelled() -> None:
            if this_load and this_load[0].is_cancelled:
                raise LoadCancelled("the console is closing")

        def progress(message: str, fraction: float | None) -> None:
            stop_if_cancelled()
            self.call_from_thread(self.main.show_progress, message, fraction)

        def arrived(data: CaseData, run: Any) -> None:
            stop_if_cancelled()
            marks_seen = dict(data.marks)  # before the rows read them: see MainScreen.add_hunt
            tables = hunt_tables(data, run)
            self.call_from_thread(self.main.add_hunt, data, run, tables, marks_seen)

        def load() -> CaseData:
            this_load.append(get_current_worker())
            data = load_case(source, progress, case, on_hunt=arrived if progressive else None)
            if not progressive:
                progress("Preparing the lists", None)
                data.tables = finding_tables(data)
            return data

        self.main.show_progress("Opening the case", None)
        self.run_worker(load, thread=True, exclusive=True, group="load", exit_on_error=False,
                        name="load")

    @property
    def loading(self) -> bool:
        """Whether the case is still loading (ingest or hunts)."""
        return any(w.group == "load" and w.is_running for w in self.workers)

    async def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "load":
            return
        if event.state == WorkerState.SUCCESS:
            data: CaseData = event.worker.result
            self._case = data.case
            await self.main.show_data(data)
        elif event.state == WorkerState.ERROR and not event.worker.is_cancelled:
            self.main.show_failure(str(event.worker.error))

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            data = self.main.data
            hunts = [] if data is None else hunt_descriptions(data.ordered_runs())
            self.push_screen(HelpScreen(hunts))
