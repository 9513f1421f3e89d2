"""The exhunt console: a Textual app over one case.

The app paints its first screen at once and loads the case (ingest, hunts, marks) in a
thread worker, showing progress; the screens fill in when the load finishes. `r` reloads the
same way. Mouse reporting stays off unless asked for: over SSH it floods the terminal and
analysts drive this with the keyboard.
"""
from __future__ import annotations

from typing import Any

from textual.app import App
from textual.worker import Worker, WorkerState

from tui import keys
from tui.screens.help import HelpScreen, hunt_descriptions
from tui.screens.main import MainScreen
from tui.screens.palette import JumpProvider
from tui.screens.rows import finding_tables
from tui.screens.state import CaseData, CaseSource, load_case


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
        """Open, ingest, hunt and read the marks in a background thread."""
        source, case = self.source, self._case
        if self.main.data is not None:
            case = self.main.data.case

        def progress(message: str, fraction: float | None) -> None:
            self.call_from_thread(self.main.show_progress, message, fraction)

        def load() -> CaseData:
            data = load_case(source, progress, case)
            progress("Preparing the lists", None)
            data.tables = finding_tables(data)
            return data

        self.main.show_progress("Opening the case", None)
        self.run_worker(load, thread=True, exclusive=True, group="load", exit_on_error=False,
                        name="load")

    async def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "load":
            return
        if event.state == WorkerState.SUCCESS:
            data: CaseData = event.worker.result
            self._case = data.case
            await self.main.show_data(data)
        elif event.state == WorkerState.ERROR:
            self.main.show_failure(str(event.worker.error))

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            data = self.main.data
            hunts = [] if data is None else hunt_descriptions(data.ordered_runs())
            self.push_screen(HelpScreen(hunts))
