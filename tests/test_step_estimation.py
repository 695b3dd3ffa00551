"""hdc.step_estimation and `main.py IN OUT auto`."""

from __future__ import annotations

import numpy as np
import pytest

from hdc import step_estimation as se

pytestmark = pytest.mark.skipif(not se.DEFAULT_PATH.is_file(), reason="no fitted step estimator shipped")


def test_estimate_within_one_step_on_every_step():
    """Generated images (random cameras, seed never used for fitting) of all 20 steps."""
    est = se.StepEstimator.load()
    x, y = se.generated_features(per_step=3, seed=12345, progress=False)
    err = np.abs(est.predict(x) - y)
    assert np.mean(err <= 1) >= 0.90, dict(zip(y.tolist(), est.predict(x).tolist()))


def test_full_resolution_image(tiny_dataset):
    from hdc import io

    for s in io.list_samples(tiny_dataset, [0, 4], ["Times"])[:2] + io.list_samples(tiny_dataset, [4], ["Times"])[:1]:
        assert abs(se.estimate_step(io.read_image(s.blurred)) - s.step) <= 1


def test_main_auto(tiny_dataset, tmp_path, capsys):
    import main as entry

    src = tiny_dataset / "step4" / "Verdana" / "CAM02"
    code = entry.main([str(src), str(tmp_path / "o"), "auto", "--method", "wiener", "--quiet"])
    err = capsys.readouterr().err
    assert code == 0 and "estimated steps" in err
    rows = (tmp_path / "o" / "estimated_steps.csv").read_text().splitlines()
    assert rows[0] == "file,estimated_step,discriminant_step" and len(rows) == 1 + 5
    samples = [r.split(",") for r in rows[1:] if "sample" in r]
    assert all(abs(int(r[1]) - 4) <= 1 for r in samples)
    assert all(r[1] == r[2] for r in samples)  # Wiener: no network to check the discriminant


def test_network_step_picks_the_most_binary_output_near_the_first_guess():
    """A made-up network whose output is binary only at step 12: found from a guess of 9;
    a shallow minimum far away loses to the penalty; unusable guesses are kept."""
    flat = np.full((8, 8), 0.5)

    def restore_at(best: int, depth: float):
        def restore(step: int) -> np.ndarray:
            # p(white) 0.5 -> 0.5 - depth at `best`: entropy lowest there
            return flat - (depth if step == best else 0.0)

        return restore

    usable = lambda s: s >= 3  # noqa: E731
    step, curve = se.network_step(restore_at(12, 0.45), 9, usable)
    assert step == 12 and sorted(curve) == list(range(3, 20))
    # entropy drop at step 19 of ~0.0008 nats < the penalty of 10 steps: keep the guess
    step, _ = se.network_step(restore_at(19, 0.02), 9, usable)
    assert step == 9
    assert se.network_step(restore_at(12, 0.45), 2, usable) == (2, {})


def test_network_checked_estimate_on_a_generated_frame(tiny_dataset):
    """The shipped network's check keeps a correct step-4 estimate within one step."""
    from hdc import io
    from hdc.pipeline import default_weights_available, load_deblurrer

    if not default_weights_available():
        pytest.skip("no shipped network weights")
    d = load_deblurrer("network")
    s = io.list_samples(tiny_dataset, [4], ["Times"])[0]
    step, first = se.estimate_step_checked(io.read_image(s.blurred), d)
    assert abs(first - 4) <= 1 and abs(step - 4) <= 1


def test_evaluate_folder_and_accuracy_table(tiny_dataset):
    est = se.StepEstimator.load()
    estimates = se.evaluate_folder(tiny_dataset, est, progress=False)
    assert sorted(estimates) == [0, 4] and all(len(v) == 4 for v in estimates.values())
    table = se.accuracy_table({4: [4, 5, 7], 9: [9, 9]})
    assert "| 4 | 3 | 33% | 67% | +1.33 |" in table and "| all | 5 | 60.0% | 80.0% | +0.80 |" in table
    assert "nearest" not in table
    # a camera 20% wider than step 4's table radius looks like step 5: [4, 5, 7] -> 2 of 3 within one of 5
    table = se.accuracy_table({4: [4, 5, 7], 9: [9, 9]}, {4: 5, 9: 9})
    assert "| 4 | 3 | 33% | 67% | +1.33 | 5 | 67% |" in table
    assert "| all | 5 | 60.0% | 80.0% | +0.80 | - | 80.0% |" in table


def test_randomized_frames_feed_the_estimator():
    x, y = se.generated_features(per_step=1, seed=7, progress=False, render="random", aperture="wide")
    assert x.shape[0] == y.shape[0] == se.N_STEPS and np.all(np.isfinite(x))
