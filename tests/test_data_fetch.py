"""Finding files in the search roots, and downloading them from mirrors, verified."""

from __future__ import annotations

import functools
import shutil
import socket
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from toolkit.data import (
    DownloadError,
    download,
    download_root,
    fetch,
    locate_files,
    search_roots,
)

pytestmark = [pytest.mark.usefixtures("isolated_data_env"), pytest.mark.standalone]


# -- search roots ------------------------------------------------------------------------------


def test_search_order(tmp_path, monkeypatch):
    monkeypatch.setenv("XRBENCH_DATA", str(tmp_path / "env"))
    roots = search_roots(tmp_path / "explicit")
    assert roots == [
        tmp_path / "explicit",
        tmp_path / "env",
        tmp_path / "xdg-cache" / "xrbench",
        tmp_path / "no-system-datasets",
    ]


def test_default_roots_include_repo_and_system(monkeypatch):
    monkeypatch.undo()  # the real module constants, still without $XRBENCH_DATA
    monkeypatch.delenv("XRBENCH_DATA", raising=False)
    roots = search_roots()
    repo_datasets = Path(__file__).resolve().parents[1] / "datasets"
    if repo_datasets.is_dir():
        assert roots[0] == repo_datasets
    assert roots[-1] == Path("/usr/share/datasets")


def test_cache_without_xdg(tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert tmp_path / "home" / ".cache" / "xrbench" in search_roots()


def _place(card, root: Path, upstream: Path, gunzip_one: bool = False) -> Path:
    folder = root / card.name
    shutil.copytree(upstream, folder)
    if gunzip_one:
        import gzip

        gz = folder / card.files["train_images"]
        gz.with_suffix("").write_bytes(gzip.decompress(gz.read_bytes()))
        gz.unlink()
    return folder


def test_data_dir_beats_env(tiny_card, tmp_path, monkeypatch):
    upstream = tmp_path / "upstream"
    env_folder = _place(tiny_card, tmp_path / "env", upstream)
    dir_folder = _place(tiny_card, tmp_path / "explicit", upstream)
    monkeypatch.setenv("XRBENCH_DATA", str(tmp_path / "env"))
    assert locate_files(tiny_card)["train_images"].parent == env_folder
    assert locate_files(tiny_card, tmp_path / "explicit")["train_images"].parent == dir_folder


def test_files_never_mixed_across_roots(tiny_card, tmp_path, monkeypatch):
    """A root missing one file is skipped as a whole, not patched from another root."""
    upstream = tmp_path / "upstream"
    partial = _place(tiny_card, tmp_path / "partial", upstream)
    (partial / tiny_card.files["test_labels"]).unlink()
    complete = _place(tiny_card, tmp_path / "complete", upstream)
    monkeypatch.setenv("XRBENCH_DATA", f"{tmp_path / 'partial'}:{tmp_path / 'complete'}")
    found = locate_files(tiny_card)
    assert {p.parent for p in found.values()} == {complete}
    assert locate_files(tiny_card, tmp_path / "partial") == found
    (complete / tiny_card.files["test_labels"]).unlink()
    assert locate_files(tiny_card) is None


def test_uncompressed_name_accepted(tiny_card, tmp_path):
    _place(tiny_card, tmp_path / "root", tmp_path / "upstream", gunzip_one=True)
    found = locate_files(tiny_card, tmp_path / "root")
    assert found["train_images"].name == "train-images-idx3-ubyte"
    assert found["test_images"].name == "t10k-images-idx3-ubyte.gz"


def test_download_root_prefers_writable(tmp_path, monkeypatch):
    monkeypatch.setenv("XRBENCH_DATA", str(tmp_path / "env"))
    assert download_root(tmp_path / "explicit") == tmp_path / "explicit"
    assert download_root() == tmp_path / "env"
    # A read-only $XRBENCH_DATA (e.g. a shared dataset folder) falls through to the cache.
    monkeypatch.setattr(fetch, "_is_writable", lambda p: p != tmp_path / "env")
    assert download_root() == tmp_path / "xdg-cache" / "xrbench"
    monkeypatch.setattr(fetch, "_is_writable", lambda p: False)
    with pytest.raises(PermissionError, match="XRBENCH_DATA"):
        download_root()


def test_is_writable_creates_nothing(tmp_path):
    assert fetch._is_writable(tmp_path / "a" / "b")
    assert not (tmp_path / "a").exists()


# -- download ----------------------------------------------------------------------------------


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


@pytest.fixture
def mirror_server(tmp_path, tiny_card):
    """Serve tmp/served/: good/ holds the tiny files, corrupt/ damaged copies, 404/ nothing."""
    served = tmp_path / "served"
    shutil.copytree(tmp_path / "upstream", served / "good")
    (served / "404").mkdir()
    corrupt = served / "corrupt"
    shutil.copytree(tmp_path / "upstream", corrupt)
    for path in corrupt.iterdir():
        blob = bytearray(path.read_bytes())
        blob[-1] ^= 0xFF
        path.write_bytes(bytes(blob))
    handler = functools.partial(_QuietHandler, directory=str(served))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def dead_mirror() -> str:
    """A URL on a port nobody listens on (bound then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def test_download_falls_through_to_good_mirror(tiny_card, mirror_server, dead_mirror, tmp_path):
    dest = tmp_path / "dest"
    mirrors = [dead_mirror, f"{mirror_server}/404/", f"{mirror_server}/good/"]
    got = download(tiny_card, dest, mirrors=mirrors, progress=False)
    assert set(got) == set(tiny_card.files)
    for role, name in tiny_card.files.items():
        assert got[role] == dest / "tinyset" / name
        assert got[role].read_bytes() == (tmp_path / "upstream" / name).read_bytes()
    assert sorted(p.name for p in (dest / "tinyset").iterdir()) == sorted(tiny_card.files.values())
    assert locate_files(tiny_card, dest) == got


def test_download_progress_bar_goes_to_stderr(tiny_card, mirror_server, tmp_path, capsys):
    """Off a terminal the bar is a log line (toolkit.progress), which the CLI's logging
    configuration puts on stderr; on a terminal it is a tqdm bar on stderr."""
    from toolkit.progress import configure_logging

    configure_logging(verbose=True)
    download(tiny_card, tmp_path / "dest", mirrors=[f"{mirror_server}/good"], progress=True)
    out, err = capsys.readouterr()
    assert out == ""
    assert "tinyset/train-images-idx3-ubyte.gz" in err
    assert "\r" not in err  # plain lines, no bar frames


def test_corrupt_download_leaves_nothing(tiny_card, mirror_server, tmp_path):
    dest = tmp_path / "dest"
    with pytest.raises(DownloadError) as info:
        download(tiny_card, dest, mirrors=[f"{mirror_server}/corrupt/"], progress=False)
    message = str(info.value)
    assert f"{mirror_server}/corrupt/train-images-idx3-ubyte.gz" in message
    assert "md5 mismatch" in message
    assert tiny_card.md5_gz["train-images-idx3-ubyte.gz"] in message
    assert list((dest / "tinyset").iterdir()) == []


def test_all_mirrors_fail_lists_each(tiny_card, mirror_server, dead_mirror, tmp_path):
    mirrors = [dead_mirror, f"{mirror_server}/404/", f"{mirror_server}/corrupt/"]
    with pytest.raises(DownloadError) as info:
        download(tiny_card, tmp_path / "dest", mirrors=mirrors, progress=False)
    lines = str(info.value).splitlines()
    assert any(dead_mirror in line and "cannot connect" in line for line in lines)
    assert any("/404/" in line and "HTTP 404" in line for line in lines)
    assert any("/corrupt/" in line and "md5 mismatch" in line for line in lines)
    assert "make it in a test" in str(info.value)  # the card's offline hint
    assert list((tmp_path / "dest" / "tinyset").iterdir()) == []


def test_download_resumes_with_verified_files(tiny_card, mirror_server, tmp_path):
    """Files already in place and verified are kept; a damaged one is fetched again."""
    dest = tmp_path / "dest"
    download(tiny_card, dest, mirrors=[f"{mirror_server}/good/"], progress=False)
    damaged = dest / "tinyset" / tiny_card.files["test_labels"]
    damaged.write_bytes(b"junk")
    got = download(tiny_card, dest, mirrors=[f"{mirror_server}/good/"], progress=False)
    assert got["test_labels"].read_bytes() == (tmp_path / "upstream" / damaged.name).read_bytes()
    # With no working mirror, a complete verified set needs no network at all.
    assert download(tiny_card, dest, mirrors=[], progress=False) == got
