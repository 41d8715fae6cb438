"""One writer per folder (speakerlib._lock), and the permissions files are written with (speakerlib._io)."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from speakerlib._lock import LOCK_NAME, StaleLockWarning, folder_lock, lock_holder
from speakerlib.cli import main
from speakerlib.data.manifest import read_manifest, write_manifest
from speakerlib.errors import FolderInUseError, SpeakerlibError
from speakerlib.prepare import prepare
from speakerlib.store import load_store

pytestmark = pytest.mark.filterwarnings("ignore::speakerlib.audio.AudioConversionWarning")

SR = 16000


def a_dead_pid() -> int:
    """The PID of a process that has ended (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def corpus(root: Path, count: int, duration_s: float) -> Path:
    """``count`` buzzy files of ``duration_s`` and their manifest CSV."""
    rng = np.random.default_rng(0)
    t = np.arange(int(duration_s * SR)) / SR
    rows = []
    for i in range(count):
        path = root / f"spk{i % 3}" / f"u{i:03d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        voice = sum(0.3 / k * np.sin(2 * np.pi * k * (120 + 7 * i) * t) for k in range(1, 12))
        sf.write(path, (voice * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t) ** 2)
                        + 1e-3 * rng.standard_normal(t.size)).astype(np.float32), SR, subtype="PCM_16")
        rows.append({"utt_id": f"u{i:03d}", "speaker": f"spk{i % 3}", "path": str(path),
                     "duration_s": duration_s, "sample_rate": SR, "subset": "x", "gender": ""})
    return write_manifest(pd.DataFrame(rows), root / "manifest.csv")


_PREPARE = textwrap.dedent(
    """
    import sys
    from speakerlib.prepare import prepare

    if __name__ == "__main__":
        prepare(sys.argv[1], sys.argv[2], jobs=1, progress=False)
    """
)


# --------------------------------------------------------------------------- the lock itself
def test_the_lock_records_its_holder_and_is_removed_however_the_block_ends(tmp_path):
    folder = tmp_path / "new" / "folder"
    with folder_lock(folder, purpose="train a run") as path:
        assert path == folder / LOCK_NAME and folder.is_dir()  # the folder is made
        record = json.loads(path.read_text())
        assert record["pid"] == os.getpid() and record["host"] == socket.gethostname()
        assert record["purpose"] == "train a run" and record["command"] == sys.argv
        assert time.time() - pd.Timestamp(record["started"]).timestamp() < 60
        assert lock_holder(folder) == record
    assert not path.exists() and lock_holder(folder) is None
    with pytest.raises(RuntimeError, match="boom"), folder_lock(folder, purpose="train a run"):
        raise RuntimeError("boom")
    assert not path.exists()


def test_a_held_lock_refuses_a_second_holder_with_who_holds_it_and_the_fix(tmp_path):
    with folder_lock(tmp_path, purpose="prepare a feature store"):
        started = json.loads((tmp_path / LOCK_NAME).read_text())["started"]
        with pytest.raises(FolderInUseError) as info, folder_lock(tmp_path, purpose="train a run"):
            pass
        assert (tmp_path / LOCK_NAME).is_file()  # the refused one did not remove the holder's lock
    message = str(info.value)
    assert isinstance(info.value, SpeakerlibError)
    for part in (str(tmp_path), f"PID {os.getpid()}", "prepare a feature store", started,
                 "wait for that process to finish", f"delete {tmp_path / LOCK_NAME}"):
        assert part in message, part


def test_a_lock_made_on_another_host_counts_as_held(tmp_path):
    record = {"pid": a_dead_pid(), "host": socket.gethostname() + "-elsewhere", "purpose": "train a run",
              "command": ["speakerlib", "train"], "started": "2025-01-01T00:00:00+00:00"}
    (tmp_path / LOCK_NAME).write_text(json.dumps(record))
    with pytest.raises(FolderInUseError, match="cannot be checked from here"), \
            folder_lock(tmp_path, purpose="train a run"):
        pass


def test_a_stale_lock_is_taken_over_with_a_warning(tmp_path):
    dead = a_dead_pid()
    record = {"pid": dead, "host": socket.gethostname(), "purpose": "prepare a feature store",
              "command": ["speakerlib", "prepare"], "started": "2025-01-01T00:00:00+00:00"}
    (tmp_path / LOCK_NAME).write_text(json.dumps(record))
    assert lock_holder(tmp_path) is None
    with pytest.warns(StaleLockWarning, match=f"removed a stale lock of PID {dead} "), \
            folder_lock(tmp_path, purpose="train a run") as path:
        assert json.loads(path.read_text())["pid"] == os.getpid()
    assert not path.exists()


def test_an_unreadable_lock_is_taken_over_with_a_warning(tmp_path):
    path = tmp_path / LOCK_NAME
    path.write_bytes(b"\x00{not json")
    old = time.time() - 60
    os.utime(path, (old, old))  # not one being written right now
    with pytest.warns(StaleLockWarning, match="unreadable lock file"), folder_lock(tmp_path, purpose="x"):
        assert json.loads(path.read_text())["pid"] == os.getpid()


def test_processes_racing_to_take_over_one_stale_lock_never_hold_it_together(tmp_path):
    """Eight processes find the same stale lock at the same moment: at most one holds the folder
    at any time (the take-over is guarded), the others are refused with the holder's PID."""
    folder = tmp_path / "run"
    folder.mkdir()
    record = {"pid": a_dead_pid(), "host": socket.gethostname(), "purpose": "train a run"}
    (folder / LOCK_NAME).write_text(json.dumps(record))
    start = time.time() + 3.0
    script = textwrap.dedent(f"""
        import json, os, sys, time, warnings
        from speakerlib._lock import folder_lock
        from speakerlib.errors import FolderInUseError
        warnings.simplefilter("ignore")
        time.sleep(max(0.0, {start!r} - time.time()))
        try:
            with folder_lock({str(folder)!r}, purpose="race"):
                entered = time.monotonic()
                time.sleep(0.3)
                left = time.monotonic()
        except FolderInUseError as exc:
            print(json.dumps({{"refused": str(exc)}}))
        else:
            print(json.dumps({{"held": [entered, left]}}))
    """)
    runs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
            for _ in range(8)]
    outcomes = [json.loads(run.communicate(timeout=120)[0]) for run in runs]
    held = sorted(outcome["held"] for outcome in outcomes if "held" in outcome)
    assert held, outcomes
    for (_, left), (entered, _) in zip(held, held[1:]):
        assert entered >= left, f"two processes held the lock at once: {held}"
    assert all("PID" in outcome["refused"] for outcome in outcomes if "refused" in outcome)
    assert not (folder / LOCK_NAME).exists()


# --------------------------------------------------------------------------- two prepare runs at once
def test_a_second_prepare_into_a_store_being_prepared_fails_at_once(tmp_path, capsys):
    manifest = corpus(tmp_path / "corpus", 40, 20.0)
    store = tmp_path / "store"
    script = tmp_path / "run.py"
    script.write_text(_PREPARE)
    first = subprocess.Popen([sys.executable, str(script), str(manifest), str(store)],
                             start_new_session=True, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not (store / LOCK_NAME).is_file() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert (store / LOCK_NAME).is_file(), "the first run never took the lock"
        begun = time.monotonic()
        with pytest.raises(FolderInUseError) as info:
            prepare(manifest, store, jobs=1, progress=False)
        assert time.monotonic() - begun < 10  # at once, not after the first run
        assert first.poll() is None, "the first run ended before the second one tried"
        message = str(info.value)
        assert f"PID {first.pid} " in message and "prepare a feature store" in message
        assert f"delete {store / LOCK_NAME}" in message and str(script) in message

        # the command line: one line, exit code 2, no traceback
        assert main(["prepare", "--manifest", str(manifest), "--out", str(store), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert f"locked by PID {first.pid} " in err and "Traceback" not in err
        assert first.poll() is None
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)  # killed: its lock stays behind, stale
        first.wait()
    assert first.returncode == -signal.SIGKILL
    assert json.loads((store / LOCK_NAME).read_text())["pid"] == first.pid

    # the killed run's stale lock is taken over, and its work is resumed
    subset = read_manifest(manifest).iloc[:3]
    with pytest.warns(StaleLockWarning, match=f"stale lock of PID {first.pid} "):
        summary = prepare(subset, store, jobs=1, progress=False)
    assert summary.written + summary.skipped == 3 and not (store / LOCK_NAME).exists()
    assert len(load_store(store)) == 3


def test_opening_a_store_while_it_is_written_names_the_writer(tmp_path):
    manifest = corpus(tmp_path / "corpus", 2, 1.0)
    prepare(manifest, tmp_path / "store", jobs=1, progress=False)
    (tmp_path / "store" / "index.csv").unlink()  # as while a run writes it
    with folder_lock(tmp_path / "store", purpose="prepare a feature store"):
        with pytest.raises(FolderInUseError, match=f"PID {os.getpid()} .* is writing it now"):
            load_store(tmp_path / "store")


# --------------------------------------------------------------------------- permissions
_WRITE = textwrap.dedent(
    """
    import os, sys
    os.umask(int(sys.argv[2], 8))  # before speakerlib reads it
    from pathlib import Path
    import numpy as np
    import pandas as pd
    from speakerlib._io import atomic_path, part_path, write_json
    from speakerlib.data.manifest import read_manifest, write_manifest

    out = Path(sys.argv[1])
    out.mkdir()
    targets = [out / "manifest.csv", out / "config.json", out / "arrays.npz"]
    if sys.argv[3] == "leftover":  # an interrupted writer's temporary files, made 0600
        for target in targets:
            part_path(target).write_bytes(b"half")
            os.chmod(part_path(target), 0o600)
    write_manifest(pd.DataFrame({"utt_id": ["a"], "speaker": ["s"], "path": ["/x.wav"],
                                 "duration_s": [1.0], "sample_rate": [16000], "subset": ["x"],
                                 "gender": [""]}), targets[0])
    write_json(targets[1], {"a": 1})
    with atomic_path(targets[2]) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, allow_pickle=False, x=np.zeros(3))
    """
)


@pytest.mark.parametrize("umask, expected", [("022", 0o644), ("077", 0o600), ("002", 0o664)])
@pytest.mark.parametrize("start", ["fresh", "leftover"])
def test_files_are_written_with_the_users_umask(tmp_path, umask, expected, start):
    script = tmp_path / "write.py"
    script.write_text(_WRITE)
    out = tmp_path / "out"
    subprocess.run([sys.executable, str(script), str(out), umask, start], check=True)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()}
    assert modes == {"manifest.csv": expected, "config.json": expected, "arrays.npz": expected}, \
        {name: oct(mode) for name, mode in modes.items()}
