"""A case that cannot be written is explained in the analyst's words: which case, what went
wrong with it, that the evidence file being read is not the cause and is read again next
time. DuckDB's own text for the failure is not the message."""
from __future__ import annotations

import errno
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from engine.ingest import case_write_message

from . import corpus
from .harness import REPO
from .test_faults import ENGINE_INGEST, _file_size_limit


class _Case:
    path = Path("/cases/incident-7")


EVIDENCE = Path("/evidence/EXCH01/u_ex210302.log")


@pytest.mark.parametrize(("exc", "meaning"), [
    (OSError(errno.ENOSPC, "No space left on device"), "its disk is full"),
    (OSError(errno.EDQUOT, "Disk quota exceeded"), "the disk quota is used up"),
    (OSError(errno.EFBIG, "File too large"), "a file would pass the file-size limit"),
    (OSError(errno.EROFS, "Read-only file system"), "it is on a read-only file system"),
    (duckdb.IOException('IO Error: Could not write file "/cases/incident-7/data/f1/x.parquet":'
                        " No space left on device"), "its disk is full"),
    (duckdb.IOException('IO Error: Could not write file "/cases/incident-7/data/f1/x.parquet":'
                        " File too large"), "a file would pass the file-size limit"),
])
def test_the_message_says_what_happened_to_the_case(exc, meaning):
    message = case_write_message(exc, _Case(), EVIDENCE)
    assert message.startswith(f"cannot write the case {_Case.path}: {meaning}.")


def test_the_message_says_the_evidence_file_is_read_again():
    message = case_write_message(OSError(errno.ENOSPC, "x"), _Case(), EVIDENCE)
    assert f"Nothing was recorded for {EVIDENCE}, which is read again on the next run" in message


def test_duckdbs_text_is_not_the_message():
    exc = duckdb.IOException('IO Error: Could not write file "/cases/incident-7/x": '
                             "No space left on device")
    message = case_write_message(exc, _Case(), EVIDENCE)
    assert "IO Error" not in message and "Could not write file" not in message


def test_an_unknown_write_failure_still_names_the_case_and_the_file():
    message = case_write_message(OSError(errno.EIO, "Input/output error"), _Case(), EVIDENCE)
    assert message.startswith(f"cannot write the case {_Case.path}: writing to it failed.")
    assert str(EVIDENCE) in message


def test_a_case_past_the_file_size_limit_names_the_limit_and_the_file(tmp_path):
    folder = tmp_path / "evidence" / "EXCH01" / "W3SVC1"
    folder.mkdir(parents=True)
    log = folder / "u_ex210301.log"
    log.write_bytes(corpus.bulk_w3c("w", 4_000, seed=1))

    done = subprocess.run([sys.executable, "-c", ENGINE_INGEST, str(tmp_path / "case"),
                           str(tmp_path / "evidence")], capture_output=True, text=True,
                          timeout=300, cwd=REPO, preexec_fn=_file_size_limit(64 * 1024))
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["error"] == "CaseWriteError", outcome
    assert "a file would pass the file-size limit" in outcome["message"], outcome
    assert str(log) in outcome["message"], outcome


def test_the_advice_fits_what_happened():
    full = case_write_message(OSError(errno.ENOSPC, "x"), _Case(), EVIDENCE)
    read_only = case_write_message(OSError(errno.EROFS, "x"), _Case(), EVIDENCE)
    assert full.endswith("free space or choose another --case")
    assert read_only.endswith("choose another --case") and "free space" not in read_only
