"""The main screen: status line, the overview (1) and one view per hunt (2-9, then enter on
the overview or the palette), the footer, and every action that works on the focused list
(filter, detail, marks, notes, selection, export).

The hunt views are built when a case loads, from the hunts it has: nothing here knows a hunt
by name. A mark redraws the finding's row in every list that shows it."""
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
from engine.findings import HuntRun
from tui import keys
from tui.safe_text import escape_controls, safe
from tui.screens import rows as R
from tui.screens.detail import DetailScreen, finding_fields, record_fields
from tui.screens.hunt_view import HuntView, view_names
from tui.screens.overview import OverviewView
from tui.screens.palette import Target
from tui.screens.prompt import PromptScreen
from tui.screens.state import UNREVIEWED, CaseData, current_marks
from tui.widgets.pane import Pane
from tui.widgets.table import VirtualTable

DEFAULT_EXPORT_NAME = "exhunt-marked-findings.csv"
# The noun the engine gives a hunt that declares none (engine.presentation).
GENERIC_NOUN = "findings"
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
        # One view per hunt, by view name, in presentation order (the number keys' order).
        self.views: dict[str, HuntView] = {}

    def compose(self) -> ComposeResult:
        with Horizontal(id="status"):
            yield Static(Text(" exhunt"), id="status-text")
            yield ProgressBar(show_eta=False, id="progress")
        with ContentSwitcher(initial="overview"):
            yield self.overview
        yield Footer(show_command_palette=False)

    def view(self, name: str) -> HuntView | None:
        """A hunt's view by its stable name ("servers", "files", "hunt-<slug>")."""
        return self.views.get(name)

    # The seed hunts' views under the names they always had (tests and scripts use them).
    @property
    def servers(self) -> HuntView | None:
        return self.view("servers")

    @property
    def files(self) -> HuntView | None:
        return self.view("files")

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

    async def show_data(self, data: CaseData) -> None:
        if self.data is not None and self.data.store is not data.store:
            self.data.store.close()  # a re-run opened its own; marks are all on disk
        self.data = data
        self.query_one("#progress", ProgressBar).remove_class("-loading")
        self._status(self._summary())
        self.overview.show(data)
        await self._build_views(data)
        self.refresh_bindings()  # the number keys of the hunts this case has
        for warning in data.warnings:
            self.app.notify(escape_controls(warning), severity="warning", markup=False)

    async def add_hunt(self, data: CaseData, run: HuntRun, tables: R.HuntTables,
                       marks_seen: dict) -> None:
        """One hunt of the first load has run: list it and give it its view while the
        others run. ``marks_seen``: the marks its rows were built with (another session's
        marks may have arrived since; those rows are redrawn)."""
        if self.data is not None and self.data is not data:
            return  # a load that was replaced
        data.runs.append(run)
        data.tables[run.rule_id] = tables
        if data.pending_hunts:
            data.pending_hunts.pop(0)
        R.link_findings_panes(data, run)
        self.data = data
        self.overview.show(data)
        await self._build_views(data)
        self.refresh_bindings()
        changed = [f.finding_id for f in run.findings
                   if marks_seen.get(f.finding_id) != data.marks.get(f.finding_id)]
        if changed:
            self.refresh_findings(changed)

    async def _build_views(self, data: CaseData) -> None:
        """One view per hunt: kept (and refilled) when the hunt and its presentation are the
        same as before a re-run, rebuilt when its rule changed, removed when it is gone."""
        switcher = self.query_one(ContentSwitcher)
        old, views, new = self.views, {}, []
        runs = data.ordered_runs()
        for run, name in zip(runs, view_names(runs)):
            view = old.get(name)
            if view is not None and view.run is run:
                pass  # shown as its hunt finished: nothing to refill
            elif (view is not None and view.run.rule_id == run.rule_id
                    and view.presentation == getattr(run, "presentation", None)):
                view.show(data, run)
            else:
                view = HuntView(run, data, name)
                view.display = False  # the switcher shows one view at a time
                new.append(view)
            views[name] = view
        kept = set(map(id, views.values()))
        gone = [v for v in old.values() if id(v) not in kept]
        if any(v.id == switcher.current for v in gone):
            self.action_show_view("overview")
        for view in gone:
            await view.remove()  # before a rebuilt view takes its id
        self.views = views
        if new:
            await switcher.mount_all(new)

    def _summary(self) -> Text:
        """" exhunt · 4 servers (4 unreviewed) · 3 files (3 unreviewed) · case x": the
        counts of each hunt in presentation order, as many as fit the line."""
        text = Text(" exhunt", end="", no_wrap=True, overflow="ellipsis")
        if self.data is not None:
            width = self.app.size.width
            for run in self.data.ordered_runs():
                presentation = getattr(run, "presentation", None)
                noun = presentation.noun if presentation is not None else GENERIC_NOUN
                if noun == GENERIC_NOUN:  # "7 findings" would not say whose: name the hunt
                    noun = run.rule_slug
                unreviewed = self.data.counts(run)[UNREVIEWED]
                part = safe(f" · {len(run.findings):,} {noun} ({unreviewed:,} unreviewed)")
                if text.cell_len + part.cell_len > width:
                    break
                text.append_text(part)
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
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # A number key with no hunt behind it is off, and out of the footer.
        if action == "show_hunt":
            return bool(parameters) and int(parameters[0]) < len(self.views)
        return True

    def action_show_hunt(self, position: int) -> None:
        """Number keys: the hunt at ``position`` in presentation order."""
        names = list(self.views)
        if 0 <= position < len(names):
            self.action_show_view(names[position])

    def action_show_view(self, name: str) -> None:
        switcher = self.query_one(ContentSwitcher)
        if name == "overview":
            switcher.current = self.overview.id
            self.overview.focus()
            return
        view = self.views.get(name)
        if view is None or not view.is_mounted:
            return
        switcher.current = view.id
        view.list.table.focus()
        view.on_view_shown()

    def action_filter(self) -> None:
        pane = self.focused_pane()
        if pane is None:
            self._say("Move to a list first (a number key, or enter on the overview).")
            return
        pane.open_filter()

    def action_clear_filter(self) -> None:
        pane = self.focused_pane()
        if pane is not None:
            pane.clear_filter()

    def action_detail(self) -> None:
        if self.focused is self.overview:  # enter on the overview opens a hunt
            run = self.overview.cursor_run
            if run is not None:
                name = next((n for n, v in self.views.items() if v.run is run), None)
                if name is not None:
                    self.action_show_view(name)
            return
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
            self._say("Marks apply to findings: move to a hunt's findings list.")
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
            self._say("Notes belong to findings: move to a hunt's findings list.")
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
        if self.data.pending_hunts:
            # Marks of an earlier session may belong to a hunt still running: an export now
            # would leave them out without a word.
            self._say(f"The hunts are still running ({self._progress_words()}): export "
                      f"once they have all run, so no marked finding is left out.", "warning")
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
            missing = [run.rule_name for run in self.data.runs if run.failed]
            if missing:
                # Its findings, marked in an earlier session, cannot be listed: say so.
                self._say(f"Wrote {count} marked findings to {where}; not in it: the marked "
                          f"findings of hunts that did not run ({', '.join(missing)})",
                          "warning")
                return
            self._say(f"Wrote {count} marked findings to {where}")

        self.app.push_screen(
            PromptScreen("Export marked findings to CSV file:", default,
                         hint="unreviewed findings are left out"), write)

    def action_rerun(self) -> None:
        if self.app.loading:
            what = self._progress_words() if self.data is not None else "the case is loading"
            self._say(f"Still loading ({what}): r reruns the hunts once this load is done.")
            return
        self.app.load_case()

    def _progress_words(self) -> str:
        done = len(self.data.runs)
        return f"{done} of {done + len(self.data.pending_hunts)} hunts done"

    # ----- updating after a mark --------------------------------------------------------
    def refresh_findings(self, finding_ids: list[str]) -> None:
        """Redraw the rows of these findings everywhere they appear, and the counts."""
        data = self.data
        if data is None:
            return
        for view in self.views.values():
            for table, columns in view.finding_lists():
                for fid in finding_ids:
                    row = table.row_by_key(fid)
                    if row is not None:
                        table.update_row(R.finding_row(data, row.data, columns))
        self.overview.show(data)
        if not data.pending_hunts:  # while hunts run, the status line says which
            self._status(self._summary())

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A pane query failed: say so rather than leave the pane silently stale."""
        if event.state == WorkerState.ERROR and event.worker.group != "load":
            self._say(f"Query failed: {event.worker.error}", "error")

    def on_resize(self) -> None:
        if self.data is not None and not self.data.pending_hunts:
            self._status(self._summary())  # as many hunts' counts as fit the new width

    def jump_to(self, target: Target) -> None:
        """Palette jump: show the hunt's view and put the cursor on the finding."""
        view = self.views.get(target.view)
        if view is None:
            return
        self.action_show_view(target.view)
        if not target.finding_id:
            return
        pane = view.list
        if not pane.table.move_to_key(target.finding_id):
            pane.clear_filter()
            pane.table.move_to_key(target.finding_id)
        pane.table.focus()
