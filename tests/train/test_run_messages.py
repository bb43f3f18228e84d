"""What a run says: a finished run is not resumed, and changes the user did not ask for are announced."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.train.helpers import TINY

import convarch as ca


def test_resuming_a_finished_run_says_it_is_finished_and_how_to_train_longer(tmp_path: Path) -> None:
    out = tmp_path / "done"
    ca.train(TINY, "digits", out=out, epochs=1, labels_per_class=3, threads=1, quiet=True)
    expected = r"has finished: all 1 of its epochs are done, so there is nothing to resume\. Training longer is a new"
    with pytest.raises(ca.ConfigError, match=expected + r" run: .*more --epochs.*convarch finetune --weights"):
        ca.train(resume=out, quiet=True)
