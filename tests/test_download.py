"""Tests of speakerlib.data.download, without network.

A local HTTP server on 127.0.0.1 serves a small LibriSpeech-like archive built
here (real FLAC files written with soundfile). It honours ``Range`` requests
and misbehaves on demand: it cuts the connection after N bytes (once), stalls,
ignores ``Range``, or answers a fixed error status. Every server is shut down
by its fixture, and by a watchdog timer if a test hangs.
"""

from __future__ import annotations

import hashlib
import io
import re
import shutil
import tarfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from speakerlib.data import download as dl
from speakerlib.data.download import (
    LIBRISPEECH_SHARED_FILES,
    LIBRISPEECH_SUBSETS,
    download_file,
    download_librispeech,
    extract_tar,
    format_librispeech_catalogue,
    librispeech_subset_ready,
    librispeech_url,
    sha256_file,
)
from speakerlib.errors import (
    ArchiveError,
    ChecksumMismatchError,
    DownloadError,
    UnsafeArchiveError,
)

pytestmark = pytest.mark.timeout(60)

SAMPLE_RATE_HZ = 16_000
SPEAKERS_CHAPTERS = (("84", "121123"), ("174", "50561"))
FAST = {"progress": False, "timeout_s": 2.0, "retry_wait_s": 0.0}


# --------------------------------------------------------------------------- archives


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _librispeech_tree(base: Path, subset: str, *, speakers_text: str, seed: int) -> dict[str, np.ndarray]:
    """Write ``base/LibriSpeech/<subset>/...``; return the samples written, by relative path."""
    rng = np.random.default_rng(seed)
    written = {}
    shared = base / "LibriSpeech"
    for speaker, chapter in SPEAKERS_CHAPTERS:
        folder = shared / subset / speaker / chapter
        folder.mkdir(parents=True)
        lines = []
        for index in range(2):
            utt = f"{speaker}-{chapter}-{index:04d}"
            samples = (rng.integers(-3000, 3000, size=SAMPLE_RATE_HZ // 5)).astype(np.int16)
            sf.write(folder / f"{utt}.flac", samples, SAMPLE_RATE_HZ, subtype="PCM_16")
            written[f"{subset}/{speaker}/{chapter}/{utt}.flac"] = samples
            lines.append(f"{utt} HELLO WORLD NUMBER {index}")
        (folder / f"{speaker}-{chapter}.trans.txt").write_text("\n".join(lines) + "\n")
    (shared / "SPEAKERS.TXT").write_text(speakers_text)
    for name in LIBRISPEECH_SHARED_FILES[1:]:
        (shared / name).write_text(f"{name} of the test corpus\n")
    return written


def _tar_gz(source: Path, arcname: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(source, arcname=arcname)
    return buffer.getvalue()


@dataclass(frozen=True)
class Corpus:
    archive: bytes
    samples: dict[str, np.ndarray]


@pytest.fixture(scope="session")
def corpora(tmp_path_factory) -> dict[str, Corpus]:
    """A dev-clean and a dev-other archive, each with 2 speakers x 2 FLAC files."""
    out = {}
    for seed, subset in enumerate(("dev-clean", "dev-other")):
        base = tmp_path_factory.mktemp(subset)
        samples = _librispeech_tree(base, subset, speakers_text=f";SPEAKERS from {subset}\n", seed=seed)
        out[subset] = Corpus(_tar_gz(base / "LibriSpeech", "LibriSpeech"), samples)
    assert len(out["dev-clean"].archive) > 20_000  # the cuts below fall mid-stream
    return out


def _tar_with(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return buffer.getvalue()


def _file(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, None


def _device(name: str) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = tarfile.CHRTYPE
    info.devmajor, info.devminor = 1, 3
    return info, None


# --------------------------------------------------------------------------- server


@dataclass
class Server:
    """What the test server serves, how it misbehaves, and what it was asked."""

    files: dict[str, bytes] = field(default_factory=dict)
    url: str = ""
    requests: list[dict] = field(default_factory=list)
    cut_after_bytes: int | None = None  # once: send this many body bytes, then close
    stall_after_bytes: int | None = None  # once: send this many, then wait stall_s, then close
    stall_s: float = 0.0
    ignore_range: bool = False
    status: int | None = None  # answer every request with this error status
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, name: str) -> int | None:
        with self.lock:
            value = getattr(self, name)
            setattr(self, name, None)
            return value

    def ranges(self) -> list[str | None]:
        return [r["range"] for r in self.requests]


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format, *args):  # keep test output quiet
        pass

    def do_GET(self) -> None:
        state: Server = self.server.state
        with state.lock:
            state.requests.append({"path": self.path, "range": self.headers.get("Range")})
        if state.status is not None:
            self.send_error(state.status)
            return
        body = state.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start = 0
        wanted = self.headers.get("Range")
        if wanted and not state.ignore_range:
            start = int(re.fullmatch(r"bytes=(\d+)-", wanted).group(1))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        payload = body[start:]
        self.send_header("Content-Type", "application/gzip")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        cut = state.take("cut_after_bytes")
        stall = state.take("stall_after_bytes")
        if cut is not None:
            payload = payload[:cut]
        elif stall is not None:
            self.wfile.write(payload[:stall])
            self.wfile.flush()
            time.sleep(state.stall_s)
            return
        self.wfile.write(payload)


@pytest.fixture
def server():
    state = Server()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.state = state
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    watchdog = threading.Timer(60.0, httpd.shutdown)
    watchdog.daemon = True
    watchdog.start()
    state.url = f"http://127.0.0.1:{httpd.server_port}/resources/12"
    try:
        yield state
    finally:
        watchdog.cancel()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture(autouse=True)
def _no_proxy_no_mirror(monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.delenv(dl.LIBRISPEECH_MIRROR_ENV, raising=False)


def _serve(server: Server, subset: str, data: bytes) -> str:
    server.files[f"/resources/12/{subset}.tar.gz"] = data
    return f"{server.url}/{subset}.tar.gz"


def _assert_clean_root(root: Path) -> None:
    """No staging folder or partial file left behind."""
    leftovers = [p.name for p in root.iterdir() if p.name.startswith(".extracting-") or p.name.endswith(".part")]
    assert leftovers == []


# --------------------------------------------------------------------------- catalogue


def test_catalogue_has_the_seven_subsets_with_their_digests():
    assert list(LIBRISPEECH_SUBSETS) == [
        "dev-clean", "dev-other", "test-clean", "test-other",
        "train-clean-100", "train-clean-360", "train-other-500",
    ]
    for name, info in LIBRISPEECH_SUBSETS.items():
        assert info.name == name
        assert re.fullmatch(r"[0-9a-f]{64}", info.sha256)
        assert info.archive_name == f"{name}.tar.gz"
    assert LIBRISPEECH_SUBSETS["dev-clean"].sha256.startswith("76f87d09")
    assert LIBRISPEECH_SUBSETS["train-other-500"].sha256.endswith("adcb6d2")
    assert LIBRISPEECH_SUBSETS["dev-clean"].approx_size_bytes == 337_000_000
    assert LIBRISPEECH_SUBSETS["train-clean-100"].size_text == "6.3 GB"
    assert len({info.sha256 for info in LIBRISPEECH_SUBSETS.values()}) == 7
    with pytest.raises(ValueError, match="64 lowercase hex"):
        dl.LibriSpeechSubset(name="x", approx_size_bytes=1, sha256="abc")
    table = format_librispeech_catalogue()
    assert "train-clean-360" in table and "23 GB" in table


def test_unknown_subset_raises_key_error_listing_valid_names(server, tmp_path):
    for call in (
        lambda: LIBRISPEECH_SUBSETS["dev-cleen"],
        lambda: librispeech_url("dev-cleen"),
        lambda: download_librispeech("dev-cleen", tmp_path, mirror=server.url, **FAST),
    ):
        with pytest.raises(KeyError, match="dev-cleen") as info:
            call()
        assert "dev-clean" in str(info.value) and "train-other-500" in str(info.value)
    assert server.requests == []
    assert list(tmp_path.iterdir()) == []


def test_url_uses_openslr_then_env_mirror_then_argument(monkeypatch):
    assert librispeech_url("dev-clean") == "https://www.openslr.org/resources/12/dev-clean.tar.gz"
    monkeypatch.setenv(dl.LIBRISPEECH_MIRROR_ENV, "https://env.example/12/")
    assert librispeech_url("test-other") == "https://env.example/12/test-other.tar.gz"
    assert librispeech_url("test-other", mirror="http://arg.example/x") == "http://arg.example/x/test-other.tar.gz"
    monkeypatch.setenv(dl.LIBRISPEECH_MIRROR_ENV, "")
    assert librispeech_url("dev-other").startswith("https://www.openslr.org/")
    with pytest.raises(ValueError, match="mirror"):
        librispeech_url("dev-clean", mirror="env.example/12")


# --------------------------------------------------------------------------- download + extraction


def test_clean_download_and_extraction(server, corpora, tmp_path):
    corpus = corpora["dev-clean"]
    _serve(server, "dev-clean", corpus.archive)
    root = tmp_path / "data"
    folder = download_librispeech(
        "dev-clean", root, mirror=server.url + "/", sha256=_sha(corpus.archive), progress=True
    )
    assert folder == root / "LibriSpeech" / "dev-clean"
    assert server.ranges() == [None]
    assert server.requests[0]["path"] == "/resources/12/dev-clean.tar.gz"
    assert (root / "dev-clean.tar.gz").read_bytes() == corpus.archive
    flacs = sorted(p.relative_to(root / "LibriSpeech").as_posix() for p in folder.rglob("*.flac"))
    assert flacs == sorted(corpus.samples)
    for relative, samples in corpus.samples.items():
        read, rate = sf.read(root / "LibriSpeech" / relative, dtype="int16")
        assert rate == SAMPLE_RATE_HZ
        np.testing.assert_array_equal(read, samples)
    assert (folder / "84" / "121123" / "84-121123.trans.txt").read_text().startswith("84-121123-0000 ")
    for name in LIBRISPEECH_SHARED_FILES:
        assert (root / "LibriSpeech" / name).is_file()
    assert librispeech_subset_ready("dev-clean", root)
    assert not librispeech_subset_ready("dev-other", root)
    _assert_clean_root(root)
    assert "ready" in format_librispeech_catalogue(root).splitlines()[1]


def test_second_call_makes_no_request(server, corpora, tmp_path):
    corpus = corpora["dev-clean"]
    _serve(server, "dev-clean", corpus.archive)
    kwargs = dict(mirror=server.url, sha256=_sha(corpus.archive), keep_archive=False, **FAST)
    first = download_librispeech("dev-clean", tmp_path, **kwargs)
    assert not (tmp_path / "dev-clean.tar.gz").exists()
    assert len(server.requests) == 1
    server.status = 500  # any further request would fail loudly
    started = time.perf_counter()
    second = download_librispeech("dev-clean", tmp_path, **kwargs)
    assert time.perf_counter() - started < 1.0
    assert second == first
    assert len(server.requests) == 1


def test_deleted_subset_folder_is_extracted_again_from_the_kept_archive(server, corpora, tmp_path):
    corpus = corpora["dev-clean"]
    _serve(server, "dev-clean", corpus.archive)
    kwargs = dict(mirror=server.url, sha256=_sha(corpus.archive), **FAST)
    folder = download_librispeech("dev-clean", tmp_path, **kwargs)
    shutil.rmtree(folder)
    assert not librispeech_subset_ready("dev-clean", tmp_path)
    assert download_librispeech("dev-clean", tmp_path, **kwargs) == folder
    assert len(list(folder.rglob("*.flac"))) == len(corpus.samples)
    assert len(server.requests) == 1  # the verified archive was reused


def test_subsets_share_one_librispeech_folder_and_keep_existing_top_level_files(server, corpora, tmp_path):
    for subset in ("dev-clean", "dev-other"):
        _serve(server, subset, corpora[subset].archive)
        download_librispeech(subset, tmp_path, mirror=server.url, sha256=_sha(corpora[subset].archive), **FAST)
    shared = tmp_path / "LibriSpeech"
    assert sorted(p.name for p in shared.iterdir() if p.is_dir()) == ["dev-clean", "dev-other"]
    assert (shared / "SPEAKERS.TXT").read_text() == ";SPEAKERS from dev-clean\n"
    assert len(list(shared.rglob("*.flac"))) == 8
    _assert_clean_root(tmp_path)


# --------------------------------------------------------------------------- resuming


def test_cut_connection_is_resumed_with_a_range_request(server, corpora, tmp_path):
    corpus = corpora["dev-clean"]
    _serve(server, "dev-clean", corpus.archive)
    server.cut_after_bytes = 10_000
    download_librispeech("dev-clean", tmp_path, mirror=server.url, sha256=_sha(corpus.archive), retries=2, **FAST)
    assert server.ranges() == [None, "bytes=10000-"]
    assert (tmp_path / "dev-clean.tar.gz").read_bytes() == corpus.archive


def test_exception_mid_stream_keeps_the_part_and_the_next_call_resumes(server, corpora, tmp_path, monkeypatch):
    data = corpora["dev-clean"].archive
    url = _serve(server, "dev-clean", data)
    dest = tmp_path / "dev-clean.tar.gz"
    real_urlopen = urllib.request.urlopen

    class Interrupting:
        """Wraps a response; raises KeyboardInterrupt (Ctrl-C) once 6000 bytes were read."""

        def __init__(self, response):
            self._response, self._read = response, 0

        def _interrupting(self, method, amount):
            if self._read >= 6000:
                raise KeyboardInterrupt
            chunk = method(amount)
            self._read += len(chunk)
            return chunk

        def read(self, amount=-1):
            return self._interrupting(self._response.read, amount)

        def read1(self, amount=-1):
            return self._interrupting(self._response.read1, amount)

        def __getattr__(self, name):
            return getattr(self._response, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._response.close()

    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: Interrupting(real_urlopen(*a, **k)))
    with pytest.raises(KeyboardInterrupt):
        download_file(url, dest, sha256=_sha(data), chunk_bytes=1000, **FAST)
    part = tmp_path / "dev-clean.tar.gz.part"
    assert not dest.exists()
    saved = part.stat().st_size
    assert 6000 <= saved < len(data)
    assert part.read_bytes() == data[:saved]

    monkeypatch.setattr(urllib.request, "urlopen", real_urlopen)
    download_file(url, dest, sha256=_sha(data), **FAST)
    assert server.ranges() == [None, f"bytes={saved}-"]
    assert dest.read_bytes() == data
    assert not part.exists()


def test_used_up_retries_keep_the_part_and_say_how_to_resume(server, corpora, tmp_path):
    data = corpora["dev-clean"].archive
    url = _serve(server, "dev-clean", data)
    dest = tmp_path / "a.tar.gz"
    server.cut_after_bytes = 7000
    with pytest.raises(DownloadError) as info:
        download_file(url, dest, sha256=_sha(data), retries=0, **FAST)
    message = str(info.value)
    assert url in message and f"7000 of {len(data)}" in message
    assert "run the same command again" in message and "resumes" in message
    assert (tmp_path / "a.tar.gz.part").stat().st_size == 7000
    download_file(url, dest, sha256=_sha(data), retries=0, **FAST)
    assert server.ranges() == [None, "bytes=7000-"]
    assert dest.read_bytes() == data


def test_stalled_connection_times_out_and_resumes(server, corpora, tmp_path):
    data = corpora["dev-clean"].archive
    url = _serve(server, "dev-clean", data)
    server.stall_after_bytes, server.stall_s = 5000, 1.0
    dest = download_file(url, tmp_path / "a.tar.gz", sha256=_sha(data), retries=1,
                         progress=False, timeout_s=0.2, retry_wait_s=0.0)
    assert server.ranges() == [None, "bytes=5000-"]
    assert dest.read_bytes() == data


def test_server_ignoring_range_makes_the_download_start_afresh(server, corpora, tmp_path):
    data = corpora["dev-clean"].archive
    url = _serve(server, "dev-clean", data)
    dest = tmp_path / "a.tar.gz"
    (tmp_path / "a.tar.gz.part").write_bytes(b"\0" * 5000)  # would corrupt the file if appended to
    server.ignore_range = True
    download_file(url, dest, sha256=_sha(data), retries=0, **FAST)
    assert server.ranges() == ["bytes=5000-"]
    assert dest.read_bytes() == data


def test_range_not_satisfiable_when_the_part_is_complete_or_too_long(server, corpora, tmp_path):
    data = corpora["dev-clean"].archive
    url = _serve(server, "dev-clean", data)
    complete = tmp_path / "complete.tar.gz"
    (tmp_path / "complete.tar.gz.part").write_bytes(data)
    download_file(url, complete, sha256=_sha(data), retries=0, **FAST)
    assert complete.read_bytes() == data
    assert server.ranges() == [f"bytes={len(data)}-"]

    too_long = tmp_path / "long.tar.gz"
    (tmp_path / "long.tar.gz.part").write_bytes(data + b"junk")
    download_file(url, too_long, sha256=_sha(data), retries=1, **FAST)
    assert too_long.read_bytes() == data
    assert server.ranges()[1:] == [f"bytes={len(data) + 4}-", None]


def test_existing_file_with_the_right_digest_is_not_downloaded_again(server, corpora, tmp_path):
    data = corpora["dev-clean"].archive
    url = _serve(server, "dev-clean", data)
    dest = tmp_path / "a.tar.gz"
    download_file(url, dest, sha256=_sha(data), **FAST)
    download_file(url, dest, sha256=_sha(data).upper(), **FAST)
    assert len(server.requests) == 1
    dest.write_bytes(b"stale")  # a wrong file is replaced by a verified download
    download_file(url, dest, sha256=_sha(data), **FAST)
    assert len(server.requests) == 2
    assert sha256_file(dest) == _sha(data)


# --------------------------------------------------------------------------- failures


def test_checksum_mismatch_names_both_digests_and_leaves_nothing_in_place(server, corpora, tmp_path):
    data = corpora["dev-clean"].archive
    url = _serve(server, "dev-clean", data)
    dest = tmp_path / "a.tar.gz"
    wrong = "0" * 64
    with pytest.raises(ChecksumMismatchError) as info:
        download_file(url, dest, sha256=wrong, **FAST)
    message = str(info.value)
    assert wrong in message and _sha(data) in message and str(dest) in message
    assert "deleted" in message
    assert sorted(tmp_path.iterdir()) == []
    download_file(url, dest, sha256=_sha(data), **FAST)  # a retry starts afresh
    assert server.ranges() == [None, None]

    with pytest.raises(ChecksumMismatchError):
        download_librispeech("dev-clean", tmp_path / "root", mirror=server.url, sha256=wrong, **FAST)
    assert sorted(p.name for p in (tmp_path / "root").iterdir()) == []


def test_http_404_raises_download_error_naming_the_url(server, tmp_path):
    with pytest.raises(DownloadError, match="404") as info:
        download_librispeech("test-clean", tmp_path, mirror=server.url, sha256="1" * 64, **FAST)
    assert librispeech_url("test-clean", mirror=server.url) in str(info.value)
    assert len(server.requests) == 1  # not retried
    assert not librispeech_subset_ready("test-clean", tmp_path)


def test_http_500_is_retried_then_raises(server, corpora, tmp_path):
    url = _serve(server, "dev-clean", corpora["dev-clean"].archive)
    server.status = 500
    with pytest.raises(DownloadError, match="HTTP 500") as info:
        download_file(url, tmp_path / "a.tar.gz", retries=2, **FAST)
    assert url in str(info.value)
    assert len(server.requests) == 3


def test_not_enough_disk_space_is_refused_before_downloading(server, corpora, tmp_path, monkeypatch):
    corpus = corpora["dev-clean"]
    _serve(server, "dev-clean", corpus.archive)
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=1000))
    with pytest.raises(DownloadError, match="free") as info:
        download_librispeech("dev-clean", tmp_path, mirror=server.url, **FAST)  # catalogue size
    assert "337 MB" in str(info.value)
    assert server.requests == []
    with pytest.raises(DownloadError, match="free"):  # another archive: the server's size
        download_librispeech("dev-clean", tmp_path, mirror=server.url, sha256=_sha(corpus.archive), **FAST)
    assert len(server.requests) == 1
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- unsafe and damaged archives


UNSAFE = {
    "parent traversal": ([_file("../evil")], "../evil"),
    "nested traversal": ([_file("LibriSpeech/../../evil")], "LibriSpeech/../../evil"),
    "absolute path": ([_file("/tmp/speakerlib-evil")], "/tmp/speakerlib-evil"),
    "symlink outside": ([_link("LibriSpeech/up", "../../outside")], "LibriSpeech/up"),
    "absolute symlink": ([_link("LibriSpeech/etc", "/etc")], "LibriSpeech/etc"),
    "symlink chain": ([_link("here", "."), _link("out", "here/..")], "out"),
    # "a" looks inside when written (b does not exist yet); "b" -> "." then makes a/ the parent
    "file through a link made outside later": (
        [_link("a", "b/.."), _link("b", "."), _file("a/evil")], "a/evil"),
    "hard link outside": ([_link("LibriSpeech/h", "../evil", tarfile.LNKTYPE)], "LibriSpeech/h"),
    "device file": ([_device("LibriSpeech/null")], "LibriSpeech/null"),
}


@pytest.mark.parametrize("case", list(UNSAFE))
def test_unsafe_member_is_refused_and_nothing_is_written(case, tmp_path):
    members, bad = UNSAFE[case]
    archive = tmp_path / "evil.tar.gz"
    archive.write_bytes(_tar_with([_file("LibriSpeech/ok.txt"), *members]))
    target = tmp_path / "deep" / "target"
    with pytest.raises(UnsafeArchiveError) as info:
        extract_tar(archive, target, progress=False)
    assert str(archive) in str(info.value) and repr(bad) in str(info.value)
    assert list(target.iterdir()) == []  # not even the safe member, no marker, no staging
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep", "evil.tar.gz"]
    assert not Path("/tmp/speakerlib-evil").exists()


def test_links_inside_the_target_are_allowed(tmp_path):
    archive = tmp_path / "ok.tar"
    archive.write_bytes(_tar_with([
        _file("LibriSpeech/a/data.txt", b"hello"),
        _link("LibriSpeech/b", "a"),
        _link("LibriSpeech/c.txt", "LibriSpeech/a/data.txt", tarfile.LNKTYPE),
    ]))
    extract_tar(archive, tmp_path / "t", progress=False)
    assert (tmp_path / "t" / "LibriSpeech" / "b" / "data.txt").read_bytes() == b"hello"
    assert (tmp_path / "t" / "LibriSpeech" / "c.txt").read_bytes() == b"hello"


def test_path_traversal_archive_served_over_http_is_refused(server, tmp_path):
    data = _tar_with([_file("LibriSpeech/dev-clean/ok.txt"), _file("../evil")])
    _serve(server, "dev-clean", data)
    root = tmp_path / "root"
    with pytest.raises(UnsafeArchiveError, match=re.escape("'../evil'")):
        download_librispeech("dev-clean", root, mirror=server.url, sha256=_sha(data), **FAST)
    assert not (tmp_path / "evil").exists()
    assert not (root / "LibriSpeech").exists()
    assert not librispeech_subset_ready("dev-clean", root)
    _assert_clean_root(root)


@pytest.mark.parametrize("keep", ["half", "all but the last 4 bytes"])
def test_truncated_archive_raises_archive_error_and_leaves_no_tree(keep, server, corpora, tmp_path):
    whole = corpora["dev-clean"].archive
    data = whole[: len(whole) // 2] if keep == "half" else whole[:-4]
    archive = tmp_path / "dev-clean.tar.gz"
    archive.write_bytes(data)
    target = tmp_path / "target"
    with pytest.raises(ArchiveError) as info:
        extract_tar(archive, target, progress=False)
    assert not isinstance(info.value, UnsafeArchiveError)
    assert str(archive) in str(info.value) and "download it again" in str(info.value)
    assert list(target.iterdir()) == []

    _serve(server, "dev-clean", data)  # the same through download_librispeech
    root = tmp_path / "root"
    with pytest.raises(ArchiveError, match="truncated or corrupted"):
        download_librispeech("dev-clean", root, mirror=server.url, sha256=_sha(data), **FAST)
    assert not (root / "LibriSpeech").exists()
    assert not librispeech_subset_ready("dev-clean", root)


def test_killed_extraction_leaves_no_half_tree_and_a_rerun_completes(corpora, tmp_path, monkeypatch):
    archive = tmp_path / "dev-clean.tar.gz"
    archive.write_bytes(corpora["dev-clean"].archive)
    target = tmp_path / "target"
    stale = target / ".extracting-dev-clean.tar.gz.old"  # left by a run killed with SIGKILL
    (stale / "LibriSpeech").mkdir(parents=True)
    real_extract = tarfile.TarFile.extract
    calls = []

    def dying_extract(self, member, *args, **kwargs):
        calls.append(member.name)
        if len(calls) == 6:
            raise KeyboardInterrupt
        return real_extract(self, member, *args, **kwargs)

    monkeypatch.setattr(tarfile.TarFile, "extract", dying_extract)
    with pytest.raises(KeyboardInterrupt):
        extract_tar(archive, target, progress=False)
    assert not (target / "LibriSpeech").exists()
    assert not (target / ".dev-clean.tar.gz.extracted").exists()

    monkeypatch.setattr(tarfile.TarFile, "extract", real_extract)
    extract_tar(archive, target, progress=False)
    assert len(list((target / "LibriSpeech").rglob("*.flac"))) == 4
    assert not stale.exists()
    assert sorted(p.name for p in target.iterdir()) == [".dev-clean.tar.gz.extracted", "LibriSpeech"]

    def no_open(*args, **kwargs):
        raise AssertionError("the archive was opened again")

    monkeypatch.setattr(tarfile, "open", no_open)
    assert extract_tar(archive, target, progress=False) == target  # the marker makes it a no-op


def test_a_refused_connection_says_each_retry_and_that_nothing_was_saved(tmp_path):
    import socket

    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/dev-clean.tar.gz"
    with pytest.warns(UserWarning, match=r"attempt 1 of 3 failed \(cannot connect") as caught:
        with pytest.raises(DownloadError) as info:
            download_file(url, tmp_path / "a.tar.gz", retries=2, **FAST)
    assert [re.search(r"attempt \d of \d", str(w.message))[0] for w in caught] == ["attempt 1 of 3", "attempt 2 of 3"]
    message = str(info.value)
    assert "nothing was saved" in message and "resumes" not in message
    assert not (tmp_path / "a.tar.gz.part").exists() or (tmp_path / "a.tar.gz.part").stat().st_size == 0
