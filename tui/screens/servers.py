"""Screen 2: Exchange servers (hunt A) and, for the server under the cursor, its alert
timeline (histogram and alert rows) and its hunt B findings."""
from __future__ import annotations

from rich.text import Text
from textual.containers import Vertical
from textual.widgets import Sparkline, Static
from textual.worker import get_current_worker

from tui.safe_text import safe
from tui.screens import rows as R
from tui.screens.state import HUNT_A, CaseData
from tui.widgets.pane import Pane
from tui.widgets.table import VirtualTable

HISTOGRAM_BUCKETS = 48


def histogram(times: list, buckets: int = HISTOGRAM_BUCKETS) -> list[float]:
    """Alert rows per equal slice of the server's alert time range."""
    times = sorted(t for t in times if t is not None)
    if not times:
        return []
    first, last = times[0], times[-1]
    span = (last - first).total_seconds()
    counts = [0.0] * buckets
    for t in times:
        i = 0 if span == 0 else min(int((t - first).total_seconds() / span * buckets),
                                    buckets - 1)
        counts[i] += 1
    return counts


class ServersView(Vertical):
    DEFAULT_CSS = """
    ServersView #servers { height: 2fr; }
    ServersView #timeline { height: 2; }
    ServersView #timeline-label { height: 1; }
    ServersView #timeline-spark { height: 1; }
    ServersView #alerts { height: 2fr; }
    ServersView #server-files { height: 1fr; }
    """

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self.data: CaseData | None = None
        self.servers = Pane("Exchange servers (hunt A)", R.SERVER_COLUMNS,
                            empty_text="No Exchange servers found.", id="servers")
        self.alerts = Pane("Alerts", R.ALERT_COLUMNS,
                           empty_text="No alerts name this server.", id="alerts")
        self.server_files = Pane("Suspicious files on this server (hunt B)",
                                 R.SERVER_FILE_COLUMNS,
                                 empty_text="No hunt B findings on this server.",
                                 id="server-files")

    def compose(self):
        yield self.servers
        with Vertical(id="timeline"):
            yield Static(Text(" Alert timeline"), id="timeline-label")
            yield Sparkline([], id="timeline-spark")
        yield self.alerts
        yield self.server_files

    def show(self, data: CaseData) -> None:
        self.data = data
        self.servers.table.set_rows(*data.tables["servers"])

    def on_virtual_table_cursor_changed(self, event: VirtualTable.CursorChanged) -> None:
        if event.table is not self.servers.table or self.data is None:
            return
        row = event.row
        server = "" if row is None else row.data.row.get("ExchangeServer", "")
        self.servers.table.refresh()
        self.alerts.set_subtitle(safe(server))
        self.server_files.table.set_rows([
            R.server_file_row(self.data, f)
            for f in self.data.tables["files_by_server"].get(server, [])
        ] if server else [])
        if not server:
            self.alerts.table.set_rows([])
            self._show_timeline(server, [])
            return
        drill, run = self.data.drill, self.data.run(HUNT_A)
        pane = next(p for p in run.presentation.panes if p.id == "alerts")

        def query() -> None:
            if get_current_worker().is_cancelled:
                return  # the cursor moved on before this query started
            alerts = drill.pane_rows(run, pane, row.data.row).rows
            if not get_current_worker().is_cancelled:
                self.app.call_from_thread(self._show_alerts, server, alerts)

        self.run_worker(query, thread=True, exclusive=True, group="server-alerts",
                        exit_on_error=False)

    def _current_server(self) -> str:
        row = self.servers.table.cursor_row
        return "" if row is None else row.data.row.get("ExchangeServer", "")

    def _show_alerts(self, server: str, alerts: list) -> None:
        if server != self._current_server():
            return  # the cursor moved on while the query ran
        self.alerts.table.set_rows([R.alert_row(a, i) for i, a in enumerate(alerts)])
        self._show_timeline(server, [a["TimeGenerated"] for a in alerts])

    def _show_timeline(self, server: str, times: list) -> None:
        label = Text(" Alert timeline", end="", no_wrap=True, overflow="ellipsis")
        known = sorted(t for t in times if t is not None)
        if known:
            label.append(f"  {R.short_time(known[0])} → {R.short_time(known[-1])}"
                         f"  ({len(known):,} alert rows)")
        elif server:
            label.append("  no alerts")
        self.query_one("#timeline-label", Static).update(label)
        self.query_one("#timeline-spark", Sparkline).data = histogram(known)
