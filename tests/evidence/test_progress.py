"""Long ingests say how far they are and how long is left."""
from __future__ import annotations

from engine.case import IngestProgress


def test_eta_is_remaining_bytes_at_the_rate_so_far():
    progress = IngestProgress(files_done=3, files_total=10, bytes_done=100_000_000,
                              bytes_total=400_000_000, elapsed_s=10.0)
    assert progress.eta_s == 30.0


def test_eta_is_unknown_before_the_first_byte():
    progress = IngestProgress(files_done=0, files_total=10, bytes_done=0,
                              bytes_total=400_000_000, elapsed_s=2.0)
    assert progress.eta_s is None
