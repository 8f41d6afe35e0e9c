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


def truncate_faststart(path, keep: float) -> None:
    """Re-encode the MP4 at ``path`` with its index at the front (``movflags faststart``),
    then keep only the first ``keep`` share of its bytes (a transfer that stopped)."""
    with av.open(str(path)) as c:
        frames = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
        rate = c.streams.video[0].average_rate
    with av.open(str(path), "w", format="mp4", options={"movflags": "faststart"}) as c:
        s = c.add_stream("libx264", rate=rate)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        s.options = {"crf": "23", "preset": "veryfast", "g": "16"}
        for fr in frames:
            for pkt in s.encode(av.VideoFrame.from_ndarray(fr, format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def test_probe_counts_the_frames_a_truncated_file_holds(tmp_path):
    states = synthetic_states(40, np.random.default_rng(0))
    path = tmp_path / "v.mp4"
    write_mp4(path, render_frames(states, (64, 96), seed=0), fps=15)
    truncate_faststart(path, keep=1.0)
    whole = probe_video(path)
    assert whole.n_frames == whole.header_frames == 40 and not whole.truncated
    truncate_faststart(path, keep=0.5)
    cut = probe_video(path)
    assert cut.header_frames == 40 and cut.truncated and 0 < cut.n_frames < 30
    # every frame the probe counts decodes
    assert decode_frames(path, [cut.n_frames - 1]).shape == (1, 64, 96, 3)
