"""The main screen: status line, the three views (1 2 3), the footer, and every action that
works on the focused list (filter, detail, marks, notes, selection, export)."""
from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Footer, ProgressBar, Static
from textual.worker import Worker, WorkerState

from engine.dispositions import DispositionError
from engine.export import write_findings_csv
from tui import keys
from tui.safe_text import escape_controls, safe
from tui.screens import rows as R
from tui.screens.detail import DetailScreen, finding_fields, record_fields
from tui.screens.files import FilesView
from tui.screens.overview import OverviewView
from tui.screens.palette import Target
from tui.screens.prompt import PromptScreen
from tui.screens.servers import ServersView
from tui.screens.state import HUNT_A, HUNT_B, UNREVIEWED, CaseData, current_marks
from tui.widgets.pane import Pane
from tui.widgets.table import VirtualTable

DEFAULT_EXPORT_NAME = "exhunt-marked-findings.csv"
SYNC_SECONDS = 2.0  # how often to look for marks saved by another exhunt on the same case


class MainScreen(Screen):
    BINDINGS = keys.bindings("main")

    DEFAULT_CSS = """
    MainScreen #status { height: 1; background: $panel; }
    MainScreen #status-text { width: 1fr; height: 1; }
    MainScreen #progress { width: 24; height: 1; display: none; }
    MainScreen #progress.-loading { display: block; }
    MainScreen ContentSwitcher { height: 1fr; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.data: CaseData | None = None
        self.overview = OverviewView(id="overview")
        self.servers = ServersView(id="servers-view")
        self.files = FilesView(id="files-view")

    def compose(self) -> ComposeResult:
        with Horizontal(id="status"):
            yield Static(Text(" exhunt"), id="status-text")
            yield ProgressBar(show_eta=False, id="progress")
        with ContentSwitcher(initial="overview"):
            yield self.overview
            yield self.servers
            yield self.files
        yield Footer(show_command_palette=False)

    # ----- loading ----------------------------------------------------------------------
    def on_mount(self) -> None:
        self.app.load_case()
        self.set_interval(SYNC_SECONDS, self.sync_marks)

    def sync_marks(self) -> int:
        """Pick up marks another session saved (two analysts on one case over SSH).
        Returns how many findings changed here."""
        data = self.data
        if data is None:
            return 0
        try:
            seen = data.store.last_change()
        except (DispositionError, OSError):
            return 0  # the store says what is wrong when the analyst next marks
        if seen == data.last_change:
            return 0
        current = current_marks(data.store)
        changed = [fid for fid in set(current) | set(data.marks)
                   if current.get(fid) != data.marks.get(fid)]
        data.marks, data.last_change = current, seen
        if changed:
            self.refresh_findings(changed)
        return len(changed)

    def show_progress(self, message: str, fraction: float | None) -> None:
        bar = self.query_one("#progress", ProgressBar)
        bar.add_class("-loading")
        if fraction is None:
            bar.update(total=None)
        else:
            bar.update(total=100, progress=round(fraction * 100))
        self._status(Text(f" {message}…"))
        if self.data is None:
            self.overview.show_loading(message + "…")

    def show_failure(self, message: str) -> None:
        self.query_one("#progress", ProgressBar).remove_class("-loading")
        text = Text(" Could not open the case: ", style="bold red")
        text.append_text(safe(message))
        self._status(text)
        self.overview.show_loading("Could not open the case: " + escape_controls(message))

    def show_data(self, data: CaseData) -> None:
        if self.data is not None and self.data.store is not data.store:
            self.data.store.close()  # a re-run opened its own; marks are all on disk
        self.data = data
        self.query_one("#progress", ProgressBar).remove_class("-loading")
        self._status(self._summary())
        self.overview.show(data)
        self.servers.show(data)
        self.files.show(data)
        for warning in data.warnings:
            self.app.notify(escape_controls(warning), severity="warning", markup=False)

    def _summary(self) -> Text:
        text = Text(" exhunt", end="", no_wrap=True, overflow="ellipsis")
        if self.data is not None:
            for run, label in ((self.data.run(HUNT_A), "servers"),
                               (self.data.run(HUNT_B), "files")):
                if run is not None:
                    unreviewed = self.data.counts(run)[UNREVIEWED]
                    text.append(f" · {len(run.findings):,} {label} ({unreviewed:,} unreviewed)")
            if getattr(self.app, "source", None) is not None and self.app.source.demo:
                text.append(" · demo case")
            else:
                text.append(" · case ")
                text.append_text(safe(self.data.case.path.name))
        return text

    def _status(self, text: Text) -> None:
        self.query_one("#status-text", Static).update(text)

    # ----- where the keys apply -----------------------------------------------------------
    def focused_pane(self) -> Pane | None:
        node = self.focused
        while node is not None and not isinstance(node, Pane):
            node = node.parent
        return node

    def focused_table(self) -> VirtualTable | None:
        pane = self.focused_pane()
        return None if pane is None else pane.table

    def _say(self, message: str, severity: str = "information") -> None:
        self.app.notify(escape_controls(message), severity=severity, markup=False)

    # ----- actions ----------------------------------------------------------------------
    def action_show_view(self, name: str) -> None:
        switcher = self.query_one(ContentSwitcher)
        view = {"overview": self.overview, "servers": self.servers, "files": self.files}[name]
        switcher.current = view.id
        if view is self.overview:
            self.overview.focus()
        else:
            first = view.servers if view is self.servers else view.files
            first.table.focus()

    def action_filter(self) -> None:
        pane = self.focused_pane()
        if pane is None:
            self._say("Move to a list first (2 or 3, tab between lists).")
            return
        pane.open_filter()

    def action_clear_filter(self) -> None:
        pane = self.focused_pane()
        if pane is not None:
            pane.clear_filter()

    def action_detail(self) -> None:
        table = self.focused_table()
        row = None if table is None else table.cursor_row
        if row is None or self.data is None:
            return
        if row.markable:
            finding = row.data
            fields = finding_fields(self.data, finding)
            title = Text(" Finding ", style="bold")
        else:
            fields = record_fields(row.data)
            title = Text(" Record ", style="bold")
        title.append_text(safe(row.cells[0]))
        self.app.push_screen(DetailScreen(title, fields))

    def action_toggle_select(self) -> None:
        table = self.focused_table()
        if table is not None:
            table.toggle_selected()

    def _targets(self) -> tuple[VirtualTable | None, list]:
        table = self.focused_table()
        if table is None or self.data is None:
            return table, []
        return table, [r for r in table.target_rows() if r.markable]

    def action_mark(self, disposition: str) -> None:
        table, targets = self._targets()
        if not targets:
            self._say("Marks apply to findings: move to the servers or files list.")
            return
        ids = [r.key for r in targets]
        rule_ids = {r.key: r.data.rule_id for r in targets}
        try:
            # Saved (fsynced) before the screen changes: what the analyst sees is on disk.
            marks = self.data.store.mark(ids, disposition, rule_id=rule_ids)
        except (DispositionError, ValueError, OSError) as exc:  # say it; keep the session
            self._say(f"Mark NOT saved: {exc}", "error")
            return
        self.data.apply_marks(marks)
        self.refresh_findings(ids)
        table.clear_selection()
        noun = "finding" if len(ids) == 1 else "findings"
        self._say(f"{len(ids)} {noun} marked {disposition}.")

    def action_note(self) -> None:
        table, targets = self._targets()
        if not targets:
            self._say("Notes belong to findings: move to the servers or files list.")
            return
        mark = self.data.marks.get(targets[0].key)
        current = escape_controls(mark.note) if mark else ""
        count = len(targets)
        question = "Note for " + (f"{count} findings" if count > 1
                                  else escape_controls(targets[0].cells[0]))

        def save(note: str | None) -> None:
            if note is None or self.data is None:
                return
            ids = [r.key for r in targets]
            try:
                marks = self.data.store.set_note(ids, note,
                                                 rule_id={r.key: r.data.rule_id for r in targets})
            except (DispositionError, ValueError, OSError) as exc:
                self._say(f"Note NOT saved: {exc}", "error")
                return
            self.data.apply_marks(marks)
            self.refresh_findings(ids)
            self._say("Note saved.")

        self.app.push_screen(PromptScreen(question, current), save)

    def action_next_unreviewed(self, step: int) -> None:
        table = self.focused_table()
        if table is None or self.data is None:
            return
        data = self.data
        if not table.find_from_cursor(
                lambda r: r.markable and data.disposition(r.key) == UNREVIEWED, step):
            self._say("No unreviewed findings in this list.")

    def action_export(self) -> None:
        if self.data is None:
            return
        default = str(Path.cwd() / DEFAULT_EXPORT_NAME)

        def write(answer: str | None) -> None:
            if not answer or self.data is None:
                return
            try:
                count = write_findings_csv(Path(answer), self.data.runs, self.data.marks,
                                           evidence=self.data.case.evidence_paths)
            except (ValueError, OSError) as exc:  # a bad path is the analyst's to fix
                self._say(f"Export failed: {exc}", "error")
                return
            where = Path(answer).expanduser().resolve()
            self._say(f"Wrote {count} marked findings to {where}")

        self.app.push_screen(
            PromptScreen("Export marked findings to CSV file:", default,
                         hint="unreviewed findings are left out"), write)

    def action_rerun(self) -> None:
        self.app.load_case()

    # ----- updating after a mark --------------------------------------------------------
    def refresh_findings(self, finding_ids: list[str]) -> None:
        """Redraw the rows of these findings everywhere they appear, and the counts."""
        data = self.data
        if data is None:
            return
        builders = ((self.servers.servers.table, R.server_row),
                    (self.servers.server_files.table, R.server_file_row),
                    (self.files.files.table, R.file_row))
        for table, build in builders:
            for fid in finding_ids:
                row = table.row_by_key(fid)
                if row is not None:
                    table.update_row(build(data, row.data))
        self.overview.show(data)
        self._status(self._summary())

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A pane query failed: say so rather than leave the pane silently stale."""
        if event.state == WorkerState.ERROR and event.worker.group != "load":
            self._say(f"Query failed: {event.worker.error}", "error")

    def jump_to(self, target: Target) -> None:
        """Palette jump: show the view and put the cursor on the finding."""
        self.action_show_view(target.view)
        pane = self.servers.servers if target.view == "servers" else self.files.files
        if not pane.table.move_to_key(target.finding_id):
            pane.clear_filter()
            pane.table.move_to_key(target.finding_id)
        pane.table.focus()
