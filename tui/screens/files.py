"""Screen 3: suspicious files (hunt B) and, for the finding under the cursor, every request
for that path and what its client IP did elsewhere on the server."""
from __future__ import annotations

from textual.containers import Vertical
from textual.worker import get_current_worker

from tui.safe_text import safe
from tui.screens import rows as R
from tui.screens.state import CaseData
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
        tenant = str(finding.row.get("TenantId", ""))
        computer = str(finding.row.get("Computer", ""))
        stem = str(finding.row.get("csUriStem", ""))
        ip = R.finding_ip(finding)
        drill = self.data.drill

        def query() -> None:
            worker = get_current_worker()
            # The cursor may have moved on while this waited for the connection: skip the
            # queries nobody will see (each scans the request table).
            if worker.is_cancelled:
                return
            page = drill.file_requests(tenant, computer, stem)
            if worker.is_cancelled:
                return
            pivot = drill.ip_pivot(computer, ip)
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
        summary = safe(pivot.client_ip)
        summary.append(f": {pivot.requests:,} requests, {pivot.paths:,} paths")
        if pivot.first_seen is not None:
            summary.append(f", {R.short_time(pivot.first_seen)} → "
                           f"{R.short_time(pivot.last_seen)}")
        self.pivot.set_subtitle(summary)
