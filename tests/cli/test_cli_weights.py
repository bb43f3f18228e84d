"""``convarch weights list|fetch`` and ``convarch export``: tables, the cache, and clear errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from tests.weights.helpers import Server, files_under, running_server, serve_locally

import convarch as ca
from convarch.cli import main
from convarch.weights.download import cache_dir, cache_path
from convarch.weights.sources import sources_for


@pytest.fixture(autouse=True)
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CONVARCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "250")  # one table row per line
    monkeypatch.delenv("CONVARCH_OFFLINE", raising=False)
    return tmp_path / "home"


@pytest.fixture
def lenet_file(tmp_path: Path) -> Path:
    path = tmp_path / "lenet5-trained.safetensors"
    save_file(ca.create_model("lenet5").state_dict(), str(path))
    return path


@pytest.fixture
def server() -> Iterator[Server]:
    """Registered sources served over HTTP: a file:// URL is read in place, so only these use the cache."""
    with running_server() as served:
        yield served


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_list_shows_source_url_hash_accuracy_preprocessing_and_cache(capsys, monkeypatch, lenet_file, server) -> None:
    code, out, _ = run(capsys, "weights", "list")
    assert code == 0
    source = sources_for("vgg16")[0]
    row = next(line for line in out.splitlines() if " vgg16 " in line)
    for text in ("torchvision.v1", source.url, f"{source.sha256}...", "71.592 / 90.382", "256->224 bilinear", " no "):
        assert text in row
    serve_locally(monkeypatch, "lenet5", lenet_file, server=server)
    code, out, _ = run(capsys, "weights", "list", "lenet5")
    assert code == 0 and " no " in next(line for line in out.splitlines() if " lenet5 " in line)
    assert main(["weights", "fetch", "lenet5"]) == 0
    code, out, _ = run(capsys, "weights", "list", "lenet5")
    assert code == 0 and " yes " in next(line for line in out.splitlines() if " lenet5 " in line)


def test_list_of_a_model_without_weights_is_a_clear_error(capsys) -> None:
    code, out, err = run(capsys, "weights", "list", "lenet5_paper")
    assert code == 1 and "no registered pretrained weights" in err and "Traceback" not in out + err


def test_list_takes_a_name_filter_as_convarch_list_does(capsys) -> None:
    code, out, err = run(capsys, "weights", "list", "RESNET1*")
    assert code == 0 and err == "" and "resnet18" in out and "resnet152" in out and "alexnet" not in out
    code, _, err = run(capsys, "weights", "list", "lenet5_p*")  # matches a model, none with weights
    assert code == 1 and "no model with registered weights matches 'lenet5_p*'" in err


def test_fetch_downloads_verifies_and_reports_a_cache_hit(capsys, monkeypatch, lenet_file, server) -> None:
    source = serve_locally(monkeypatch, "lenet5", lenet_file, server=server)
    code, out, _ = run(capsys, "weights", "fetch", "lenet5", "--source", "test")
    assert code == 0 and str(cache_path(source.url)) in out.replace("\n", "")
    assert cache_path(source.url).read_bytes() == lenet_file.read_bytes()
    code, out, _ = run(capsys, "weights", "fetch", "lenet5")
    assert code == 0 and "already cached" in out and len(server.requests) == 1


def test_fetch_removes_a_cached_copy_that_fails_its_hash(capsys, monkeypatch, lenet_file, server) -> None:
    source = serve_locally(monkeypatch, "lenet5", lenet_file, server=server)
    cache_path(source.url).parent.mkdir(parents=True)
    cache_path(source.url).write_bytes(b"tampered")
    code, _, err = run(capsys, "weights", "fetch", "lenet5")
    assert code == 1 and "did not match its published SHA-256" in err
    assert files_under(cache_dir()) == []


def test_fetch_offline_with_an_empty_cache_names_the_missing_file(capsys, monkeypatch) -> None:
    monkeypatch.setenv("CONVARCH_OFFLINE", "1")
    code, out, err = run(capsys, "weights", "fetch", "alexnet")
    expected = cache_path(sources_for("alexnet")[0].url)
    assert code == 1 and "CONVARCH_OFFLINE" in err and str(expected) in err.replace("\n", "")
    assert "Traceback" not in out + err and files_under(cache_dir()) == []


def test_export_writes_a_checkpoint_that_describes_itself(capsys, tmp_path: Path, lenet_file) -> None:
    out_file = tmp_path / "exported.safetensors"
    code, out, _ = run(capsys, "export", "lenet5", "--weights", str(lenet_file), "--out", str(out_file))
    assert code == 0 and "wrote" in out
    loaded = ca.load(out_file).eval()
    reference = ca.create_model("lenet5", weights=str(lenet_file)).eval()
    x = torch.randn(2, 1, 32, 32)
    assert torch.equal(loaded(x), reference(x))
    assert loaded.pretrained_cfg["architecture"] == "lenet5"


def test_export_errors_are_clear(capsys, tmp_path: Path, lenet_file) -> None:
    code, out, err = run(capsys, "export", "lenet5", "--weights", str(lenet_file), "--out", str(tmp_path / "m.pth"))
    assert code == 1 and ".safetensors suffix" in err and "unsupported suffix" in err
    code, out, err = run(capsys, "export", "lenet5", "--weights", "imagenet", "--out", str(tmp_path / "m.safetensors"))
    assert code == 1 and "no registered pretrained weights" in err and "Traceback" not in out + err
    assert not (tmp_path / "m.safetensors").exists()


def trained_checkpoint(path: Path) -> Path:
    """A convarch checkpoint of lenet5 trained for 3 named classes (the zoo default is 10)."""
    torch.manual_seed(3)
    return ca.save(ca.create_model("lenet5", num_classes=3), path, class_names=["cat", "dog", "eel"])


def test_export_refuses_to_overwrite_its_own_input(capsys, tmp_path: Path, monkeypatch) -> None:
    ckpt = trained_checkpoint(tmp_path / "trained.safetensors")
    before = ckpt.read_bytes()
    monkeypatch.chdir(tmp_path)
    link = tmp_path / "link.safetensors"
    link.hardlink_to(ckpt)
    for weights, out in [(str(ckpt), "trained.safetensors"), (ckpt.as_uri(), str(ckpt)), (str(link), str(ckpt))]:
        code, out_text, err = run(capsys, "export", "lenet5", "-w", weights, "-o", out)
        assert code == 1 and "is the weights file being exported" in err
        assert "export to another path (on the command line: --out)" in err
        assert "Traceback" not in out_text + err
    assert ckpt.read_bytes() == before


def test_export_keeps_a_checkpoint_s_own_classes_unless_told_otherwise(capsys, tmp_path: Path) -> None:
    ckpt = trained_checkpoint(tmp_path / "trained.safetensors")
    code, out, _ = run(capsys, "export", "lenet5", "-w", str(ckpt), "-o", str(tmp_path / "kept.safetensors"))
    assert code == 0 and "keeping its 3 classes" in out.replace("\n", " ")
    kept, trained = ca.load(tmp_path / "kept.safetensors").eval(), ca.load(ckpt).eval()
    x = torch.randn(2, 1, 32, 32)
    assert torch.equal(kept(x), trained(x)) and kept.class_names == ["cat", "dog", "eel"]
    code, _, _ = run(capsys, "export", "lenet5", "-w", str(ckpt), "-o", str(tmp_path / "ten.safetensors"),
                     "--num-classes", "10")  # fmt: skip
    ten = ca.load(tmp_path / "ten.safetensors")
    assert code == 0 and ten.num_classes == 10 and ten.class_names is None


def test_fetch_of_a_local_source_says_it_is_read_in_place(capsys, monkeypatch, lenet_file) -> None:
    serve_locally(monkeypatch, "lenet5", lenet_file)
    code, out, _ = run(capsys, "weights", "fetch", "lenet5")
    assert code == 0 and "local file, read in place" in out and files_under(cache_dir()) == []


def test_usage_mistakes_print_help_or_an_error_not_a_traceback(capsys) -> None:
    code, out, err = run(capsys, "weights")
    assert code == 0 and "list" in out and "fetch" in out
    code, out, err = run(capsys, "weights", "list", "--bogus")
    assert code == 2 and "No such option: --bogus" in err and "Traceback" not in out + err
