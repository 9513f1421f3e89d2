"""Screen 3: suspicious files (hunt B) and, for the finding under the cursor, every request
for that path and what its client IP did elsewhere on the server."""
from __future__ import annotations

from textual.containers import Vertical
from textual.worker import get_current_worker

from tui.safe_text import safe
from tui.screens import rows as R
from tui.screens.state import HUNT_B, CaseData
from tui.widgets.pane import Pane
from tui.widgets.table import VirtualTable


class FilesView(Vertical):
    DEFAULT_CSS = """
    FilesView #files { height: 2fr; }
    FilesView #requests { height: 1fr; }
    FilesView #pivot { height: 1fr; }
    """

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self.data: CaseData | None = None
        self.files = Pane("Suspicious files (hunt B)", R.FILE_COLUMNS,
                          empty_text="No suspicious files found.", id="files")
        self.requests = Pane("Requests for this path", R.REQUEST_COLUMNS,
                             empty_text="No requests.", id="requests")
        self.pivot = Pane("Client IP pivot", R.PIVOT_COLUMNS,
                          empty_text="Nothing else from this client.", id="pivot")

    def compose(self):
        yield self.files
        yield self.requests
        yield self.pivot

    def show(self, data: CaseData) -> None:
        self.data = data
        self.files.table.set_rows(*data.tables["files"])

    def _current_key(self) -> str:
        row = self.files.table.cursor_row
        return "" if row is None else row.key

    def on_virtual_table_cursor_changed(self, event: VirtualTable.CursorChanged) -> None:
        if event.table is not self.files.table or self.data is None:
            return
        row = event.row
        if row is None:
            self.requests.table.set_rows([])
            self.pivot.table.set_rows([])
            return
        finding = row.data
        key = row.key
        drill, run = self.data.drill, self.data.run(HUNT_B)
        panes = {p.id: p for p in run.presentation.panes}

        def query() -> None:
            worker = get_current_worker()
            # The cursor may have moved on while this waited for the connection: skip the
            # queries nobody will see (each scans the request table).
            if worker.is_cancelled:
                return
            page = drill.pane_rows(run, panes["requests"], finding.row)
            if worker.is_cancelled:
                return
            pivot = drill.pane_rows(run, panes["pivot"], finding.row)
            if not worker.is_cancelled:
                self.app.call_from_thread(self._show, key, page, pivot)

        self.run_worker(query, thread=True, exclusive=True, group="file-requests",
                        exit_on_error=False)

    def _show(self, key: str, page, pivot) -> None:
        if key != self._current_key():
            return  # the cursor moved on while the query ran
        self.requests.table.set_rows([R.request_row(r, i) for i, r in enumerate(page.rows)])
        shown = len(page.rows)
        self.requests.set_subtitle(
            "" if shown == page.total else f"first {shown:,} of {page.total:,} shown")
        self.pivot.table.set_rows([R.pivot_row(p, i) for i, p in enumerate(pivot.rows)])
        totals = pivot.summary or {}
        summary = safe(totals.get("cIP") or "")
        summary.append(f": {totals.get('requests', 0):,} requests, {totals.get('paths', 0):,} paths")
        if totals.get("first_seen") is not None:
            summary.append(f", {R.short_time(totals['first_seen'])} → "
                           f"{R.short_time(totals['last_seen'])}")
        self.pivot.set_subtitle(summary)
