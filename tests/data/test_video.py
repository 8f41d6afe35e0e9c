"""Sparse decoding returns exactly the frames a full sequential decode gives, whatever the seeks."""

import av
import numpy as np
import pytest

from vjepa_ac.data.droid_writer import write_mp4
from vjepa_ac.data.synthetic_datasets import render_frames, synthetic_states
from vjepa_ac.data.video import VideoDecodeError, _keyframe_indices, decode_frames, probe_video


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "v.mp4"
    frames = render_frames(synthetic_states(70, np.random.default_rng(0)), (48, 64))
    write_mp4(path, frames, fps=60)
    with av.open(str(path)) as c:
        reference = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    return path, reference


def test_probe(video):
    path, reference = video
    info = probe_video(path)
    assert (info.n_frames, info.fps, info.height, info.width, info.codec) == (70, 60.0, 48, 64, "h264")


def test_sparse_decoding_matches_sequential(video):
    path, reference = video
    with av.open(str(path)) as c:
        kf = _keyframe_indices(c.streams.video[0], 60.0)
    assert kf is not None and kf[0] == 0 and len(kf) >= 4  # the writer puts a keyframe every <= 16 frames
    rng = np.random.default_rng(0)
    cases = [[0], [69], list(range(70)), [5, 3, 20, 69, 3], list(range(0, 70, 15))]
    cases += [rng.choice(70, int(rng.integers(1, 9)), replace=False).tolist() for _ in range(10)]
    for idx in cases:
        for ahead in (0, 16, 1000):  # the fallback heuristic's setting must not matter either
            out = decode_frames(path, idx, max_decode_ahead=ahead)
            assert out.shape == (len(idx), 48, 64, 3)
            for got, i in zip(out, idx):
                assert np.array_equal(got, reference[i]), (idx, i)


def test_errors_name_the_file(video, tmp_path):
    path, _ = video
    with pytest.raises(VideoDecodeError, match="v.mp4.*frame 70"):
        decode_frames(path, [3, 70])
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(VideoDecodeError, match="bad.mp4"):
        probe_video(bad)
    with pytest.raises(VideoDecodeError, match="bad.mp4"):
        decode_frames(bad, [0])
