"""What a run says: a finished run is not resumed, and changes the user did not ask for are announced."""

from __future__ import annotations

import re
from pathlib import Path

from tests.train.helpers import TINY

import convarch as ca


def test_resuming_a_finished_run_says_it_is_finished_trains_nothing_and_succeeds(capsys, tmp_path: Path) -> None:
    """Repeating "resume until done" must be safe: a kill between the last checkpoint and the exit left a
    finished run that a restart resumes (the SIGKILL test hit exactly that), so it succeeds with no work."""
    out = tmp_path / "done"
    first = ca.train(TINY, "digits", out=out, epochs=1, labels_per_class=3, threads=1, quiet=True)
    files = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.iterdir()}
    again = ca.train(resume=out, quiet=True)
    said = capsys.readouterr()
    expected = r"has finished: all 1 of its epochs are done, so there is nothing to resume and nothing was trained"
    assert re.search(
        expected + r"\. Training longer is a new run: .*more epochs.*finetune\(weights=", said.out + said.err
    )
    assert f"resuming {out} at epoch" not in said.out + said.err
    assert again.history == first.history
    now = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.iterdir()}
    assert now.keys() == files.keys()
    assert all(now[n][1] == files[n][1] for n in now if n != "data.json")  # every resume re-describes its data
    assert all(now[n][0] == files[n][0] for n in now if n.endswith(".safetensors"))  # weights not even rewritten


def test_evaluate_shows_n_a_for_a_class_without_images_and_no_top5_for_few_classes(capsys, tmp_path: Path) -> None:
    from tests.train.helpers import write_class_folder

    from convarch.cli import main

    root = tmp_path / "shapes"
    write_class_folder(root / "train", {"a": 4, "b": 4, "c": 4})
    write_class_folder(root / "val", {"a": 2, "b": 2})  # no image of c held out
    result = ca.train(TINY, root, out=tmp_path / "run", epochs=1, batch_size=4, threads=1, quiet=True)
    assert result.history[0]["val_top5"] is None  # 3 classes: every image is a top-5 hit, so it is not shown
    evaluation = ca.evaluate(tmp_path / "run" / "best.safetensors", root, device="cpu")
    assert evaluation.stats.per_class[2] is None and evaluation.top5 is None
    assert evaluation.to_dict()["per_class"]["c"] is None
    assert main(["evaluate", str(tmp_path / "run" / "best.safetensors"), "--data", str(root), "--json"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "run" / "best.safetensors"), "--data", str(root)]) == 0
    text = capsys.readouterr().out
    assert not re.search(r"top-5 \d", text) and re.search(r"│ c\s+│\s+0 │\s+n/a │", text)


def test_a_quiet_run_still_lists_the_files_it_skipped_broken_links_included(tmp_path: Path) -> None:
    import io

    from rich.console import Console
    from tests.train.helpers import write_class_folder

    root = write_class_folder(tmp_path / "shapes", {"a": 4, "b": 4})
    (root / "a" / "lost.png").symlink_to(tmp_path / "gone.png")  # the target was moved away
    shown = io.StringIO()
    result = ca.train(TINY, root, epochs=1, batch_size=4, threads=1, quiet=True, console=Console(file=shown))
    reason = f"a broken symbolic link (its target {tmp_path / 'gone.png'} does not exist)"
    assert (str(root / "a" / "lost.png"), reason) in result.skipped
    text = shown.getvalue()
    assert "skipped 1 unreadable image(s):" in text and "lost.png: a broken symbolic link" in text
    assert "epoch 1/1" not in shown.getvalue()  # quiet: no progress


def test_changes_to_the_classifier_the_user_did_not_ask_for_are_announced(tmp_path: Path) -> None:
    import io

    from rich.console import Console
    from tests.train.helpers import write_class_folder

    root = write_class_folder(tmp_path / "shapes", {"a": 4, "b": 4, "c": 4})
    seven = ca.build(TINY.replace("FC10", "FC7"))
    cases = [
        (seven, root, "note: the network's 7-class classifier was replaced by a new 3-class one (fresh weights) "
                      f"for the 3 classes of {root}"),
        ("INPUT(16x16x1) -> CONV3-8 -> RELU -> GAP", "digits",
         "note: the network has no classifier, so a final FC10 was appended for the 10 classes of digits"),
        (TINY, "digits", ""),  # FC10 on 10 classes: nothing changed, nothing said
    ]  # fmt: skip
    for model, data, expected in cases:
        shown = io.StringIO()
        ca.train(model, data, epochs=1, batch_size=4, labels_per_class=2, threads=1, quiet=True,
                 console=Console(file=shown, width=300))  # fmt: skip
        assert shown.getvalue().strip() == expected


def test_num_classes_says_when_it_appends_a_classifier(capsys) -> None:
    from convarch.cli import main

    assert main(["check", "INPUT(32x32x3) -> CONV3-8 -> RELU -> GAP", "--num-classes", "5"]) == 0
    assert "note: the network has no final FC, so --num-classes 5 appends FC5" in capsys.readouterr().err
    assert main(["check", "INPUT(32x32x3) -> CONV3-8 -> RELU -> GAP -> FC10", "--num-classes", "5"]) == 0
    assert "appends" not in capsys.readouterr().err
