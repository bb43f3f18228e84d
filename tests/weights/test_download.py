"""Downloads: cache layout, hash checks, atomic writes, retries, 404s and offline mode, against a local server."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from tests.weights.helpers import PAYLOAD, Server, files_under, sha256_of

import convarch as ca
from convarch.weights.download import cache_dir, cache_path, fetch


def test_cache_layout_follows_the_url_under_convarch_home(cache_home: Path) -> None:
    url = "https://download.pytorch.org/models/resnet50-0676ba61.pth"
    assert cache_path(url) == cache_home / "weights" / "download.pytorch.org" / "models" / "resnet50-0676ba61.pth"
    odd = cache_path("https://example.org/../x?token=a b")
    assert odd.is_relative_to(cache_dir()) and ".." not in odd.parts
    assert cache_path("https://example.org/a/model.safetensors?download=1").suffix == ".safetensors"
    assert cache_path("https://example.org/a/model.safetensors?download=2") != cache_path(
        "https://example.org/a/model.safetensors?download=1"
    )


def test_download_is_verified_and_cached(server: Server) -> None:
    server.plans["/w.pth"] = ["200"]
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    path = fetch(f"{server.url}/w.pth", sha256=digest, progress=False)
    assert path.read_bytes() == PAYLOAD and sha256_of(path) == digest
    assert fetch(f"{server.url}/w.pth", sha256=digest, progress=False) == path
    assert server.requests == ["/w.pth"], "a cached file is not downloaded again"


def test_wrong_hash_is_refused_and_the_cache_stays_clean(server: Server) -> None:
    server.plans["/w.pth"] = ["200"]
    with pytest.raises(ca.WeightsError, match="SHA-256 mismatch"):
        fetch(f"{server.url}/w.pth", sha256="deadbeef", progress=False)
    assert files_under(cache_dir()) == []


def test_404_is_final_not_retried(server: Server) -> None:
    with pytest.raises(ca.WeightsError, match="HTTP 404"):
        fetch(f"{server.url}/missing.pth", progress=False, backoff_s=0)
    assert server.requests == ["/missing.pth"]
    assert files_under(cache_dir()) == []


def test_transient_failures_are_retried(server: Server) -> None:
    server.plans["/w.pth"] = ["503", "short", "200"]
    path = fetch(f"{server.url}/w.pth", progress=False, backoff_s=0)
    assert path.read_bytes() == PAYLOAD
    assert len(server.requests) == 3


def test_persistent_5xx_gives_up_with_a_clear_error(server: Server) -> None:
    server.plans["/w.pth"] = ["503"]
    with pytest.raises(ca.WeightsError, match="after 3 attempts.*HTTP 503"):
        fetch(f"{server.url}/w.pth", progress=False, retries=2, backoff_s=0)
    assert len(server.requests) == 3
    assert files_under(cache_dir()) == []


def test_file_url_is_read_in_place_so_a_rewritten_file_is_never_stale(tmp_path: Path) -> None:
    source = tmp_path / "weights.bin"
    source.write_bytes(PAYLOAD)
    assert fetch(source.as_uri(), progress=False) == source
    source.write_bytes(b"retrained")
    assert fetch(source.as_uri(), progress=False).read_bytes() == b"retrained"
    assert files_under(cache_dir()) == [], "nothing is copied into the cache"


def test_a_file_url_is_checked_against_its_hash_and_left_alone(tmp_path: Path) -> None:
    source = tmp_path / "weights.bin"
    source.write_bytes(PAYLOAD)
    assert fetch(source.as_uri(), sha256=sha256_of(source)[:8], progress=False) == source
    with pytest.raises(ca.WeightsError, match="SHA-256 mismatch.*left as it is"):
        fetch(source.as_uri(), sha256="deadbeef", progress=False)
    assert source.read_bytes() == PAYLOAD, "a user's file is never deleted"


def test_missing_file_url_and_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ca.WeightsError, match="does not exist"):
        fetch((tmp_path / "absent.pth").as_uri(), progress=False)
    with pytest.raises(ca.WeightsError, match="names a directory"):
        fetch(tmp_path.as_uri(), progress=False)
    with pytest.raises(ca.WeightsError, match="'model.pth' was read as a host name"):  # file://model.pth
        fetch("file://model.pth", progress=False)
    assert files_under(cache_dir()) == []


def test_offline_uses_only_the_cache_and_names_the_missing_file(server: Server, monkeypatch) -> None:
    url = f"{server.url}/w.pth"
    server.plans["/w.pth"] = ["200"]
    monkeypatch.setenv("CONVARCH_OFFLINE", "1")
    with pytest.raises(ca.WeightsError, match="CONVARCH_OFFLINE") as caught:
        fetch(url, progress=False)
    assert str(cache_path(url)) in str(caught.value)
    assert files_under(cache_dir()) == [] and server.requests == []
    monkeypatch.delenv("CONVARCH_OFFLINE")
    cached = fetch(url, progress=False)
    monkeypatch.setenv("CONVARCH_OFFLINE", "1")
    assert fetch(url, progress=False) == cached and server.requests == ["/w.pth"]


def test_offline_still_reads_local_files(tmp_path: Path, monkeypatch) -> None:
    source = tmp_path / "weights.bin"
    source.write_bytes(PAYLOAD)
    monkeypatch.setenv("CONVARCH_OFFLINE", "1")
    assert fetch(source.as_uri(), progress=False) == source


@pytest.mark.parametrize("home", ["file", "under a file"])
def test_an_unusable_convarch_home_is_a_clear_error(server: Server, tmp_path: Path, monkeypatch, home: str) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file")
    monkeypatch.setenv("CONVARCH_HOME", str(blocker if home == "file" else blocker / "home"))
    server.plans["/w.pth"] = ["200"]
    with pytest.raises(ca.WeightsError, match=f"{blocker} is a file, not a directory.*Set CONVARCH_HOME to a writable"):
        fetch(f"{server.url}/w.pth", progress=False)
    assert blocker.read_text() == "a file" and server.requests == []


def test_an_unwritable_convarch_home_is_a_clear_error(server: Server, tmp_path: Path, monkeypatch) -> None:
    def refuse(self: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(1, "Operation not permitted", str(self))  # what /sys or a read-only mount answers

    monkeypatch.setattr(Path, "mkdir", refuse)
    server.plans["/w.pth"] = ["200"]
    with pytest.raises(ca.WeightsError, match="permission denied \\(CONVARCH_HOME is .*Set CONVARCH_HOME"):
        fetch(f"{server.url}/w.pth", progress=False)


def test_a_file_placed_in_the_cache_is_verified_before_it_is_used(server: Server, monkeypatch) -> None:
    """Offline mode asks users to copy files into the cache: a wrong one must not load unverified."""
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    url = f"{server.url}/w.pth"
    path = cache_path(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not the published file")
    monkeypatch.setenv("CONVARCH_OFFLINE", "1")
    with pytest.raises(ca.WeightsError, match="did not match its published SHA-256 and has been removed"):
        fetch(url, sha256=digest, progress=False)
    assert not path.exists()
    path.write_bytes(PAYLOAD)  # the right file, copied by hand, is accepted once verified
    assert fetch(url, sha256=digest, progress=False) == path
    assert server.requests == [], "offline: nothing was downloaded"
    reads = []
    monkeypatch.setattr("convarch.weights.download.verify", lambda *args: reads.append(args))
    fetch(url, sha256=digest, progress=False)
    assert reads == [], "a verified file is not hashed again on every load"


def test_a_read_only_cache_still_serves_its_verified_files(server: Server, monkeypatch) -> None:
    """A shared cache prepared offline may be read-only: the stamp that saves re-hashing is then skipped."""
    url = f"{server.url}/w.pth"
    path = cache_path(url)
    path.parent.mkdir(parents=True)
    path.write_bytes(PAYLOAD)

    def read_only(target: Path, *args: object, **kwargs: object) -> None:
        raise ca.WeightsError(f"could not write {target}: the file system is read-only")

    monkeypatch.setattr("convarch.weights.download.atomic_write", read_only)
    assert fetch(url, sha256=hashlib.sha256(PAYLOAD).hexdigest(), progress=False) == path
    assert server.requests == []


def test_a_hash_prefix_in_the_file_name_is_verified_as_torchvision_does(server: Server) -> None:
    """resnet18-1b055330.pth: the right length, the wrong bytes. Nothing is kept, and the error says why."""
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    server.files["/resnet18-1b055330.pth"] = PAYLOAD  # 1b055330 is not PAYLOAD's prefix
    with pytest.raises(ca.WeightsError, match="SHA-256 mismatch .* expected 1b055330... .*nothing was kept"):
        fetch(f"{server.url}/resnet18-1b055330.pth", progress=False)
    assert files_under(cache_dir()) == []
    server.files[f"/resnet18-{digest[:8]}.pth"] = PAYLOAD
    assert fetch(f"{server.url}/resnet18-{digest[:8]}.pth", progress=False).read_bytes() == PAYLOAD
    server.files["/model-2024.pth"] = PAYLOAD  # four digits are a version, not a hash
    assert fetch(f"{server.url}/model-2024.pth", progress=False).is_file()
    stale = cache_path(f"{server.url}/resnet18-1b055330.pth")  # cached before names were checked
    stale.write_bytes(PAYLOAD)
    with pytest.raises(ca.WeightsError, match="cached copy .* did not match .* has been removed"):
        fetch(f"{server.url}/resnet18-1b055330.pth", progress=False)
    assert not stale.exists()


def test_a_download_that_cannot_be_read_is_removed_from_the_cache(server: Server) -> None:
    url = f"{server.url}/net.pth"
    server.files["/net.pth"] = b"PK\x03\x04" + PAYLOAD  # no hash to check: a zip start, then garbage
    with pytest.raises(ca.WeightsError, match=r"not a readable PyTorch file.*The cached download .* has been "
                       "removed: load it again"):  # fmt: skip
        ca.create_model("lenet5", weights=url)
    assert files_under(cache_dir()) == []
    with pytest.raises(ca.WeightsError, match="has been removed"):  # the next call downloads it again
        ca.create_model("lenet5", weights=url)
    assert server.requests == ["/net.pth", "/net.pth"]
