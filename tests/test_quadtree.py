"""Quadtree corner masks (sparsecodec.masks.quadtree) and their split-flag code."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sparsecodec
from sparsecodec.coding import Header, read_stream, write_stream
from sparsecodec.coding.header import FLAG_QUADTREE
from sparsecodec.coding.quadtree_coder import decode_quadtree, encode_quadtree, tree_from_mask
from sparsecodec.errors import BitstreamError
from sparsecodec.geometry import centre_mask, subdivision_mask
from sparsecodec.masks.quadtree import (
    block_errors,
    corner_mask,
    quadtree_mask,
    root_blocks,
    split_blocks,
)


def random_tree_mask(
    h: int, w: int, log2_root: int, p: float, seed: int, centres: bool = False
) -> np.ndarray:
    """Corner (and centre) mask of a random quadtree (each square of side >= 2 split with
    probability p)."""
    rng = np.random.default_rng(seed)
    blocks, leaves = root_blocks(h, w, 1 << log2_root), []
    while len(blocks):
        split = (blocks[:, 2] >= 2) & (rng.random(len(blocks)) < p)
        leaves.append(blocks[~split])
        blocks, _ = split_blocks(blocks[split], h, w)
    return subdivision_mask(np.concatenate(leaves), h, w, centres)


def smooth_image(h: int, w: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return 128 + 60 * np.sin(x / 5.0) * np.cos(y / 7.0) + 50 * ((x - w / 2) ** 2 < (w / 5) ** 2)


@settings(max_examples=150, deadline=None)
@given(
    h=st.integers(1, 40),
    w=st.integers(1, 40),
    log2_root=st.integers(1, 6),
    p=st.floats(0, 1),
    seed=st.integers(0, 2**16),
    centres=st.booleans(),
)
def test_split_flag_code_round_trips_every_tree(h, w, log2_root, p, seed, centres):
    mask = random_tree_mask(h, w, log2_root, p, seed, centres)
    data = encode_quadtree(mask)
    assert data is not None
    assert np.array_equal(decode_quadtree(data, h, w), mask)


def test_centre_mask_known_values():
    blocks = np.array([[0, 0, 4], [0, 4, 4], [4, 0, 2], [0, 0, 1]])
    m = centre_mask(blocks, 7, 7)
    # the second square's centre (2, 6) is on the image border column: not stored; a square
    # of side 1 has no centre
    assert sorted(zip(*np.nonzero(m), strict=True)) == [(2, 2), (5, 1)]
    both = subdivision_mask(blocks[:1], 7, 7, centres=True)
    assert sorted(zip(*np.nonzero(both), strict=True)) == [
        (0, 0), (0, 4), (2, 2), (4, 0), (4, 4),
    ]  # fmt: skip


def test_centre_masks_code_smaller_than_their_corner_points_would():
    """A corner-and-centre mask has the centres flag and a code as long as the corner mask of
    the same tree (the same split flags), for more points."""
    mask = random_tree_mask(64, 64, 4, 0.5, 5, centres=True)
    corners = random_tree_mask(64, 64, 4, 0.5, 5, centres=False)
    data, plain = encode_quadtree(mask), encode_quadtree(corners)
    assert data[0] & 0x80 and not plain[0] & 0x80
    assert len(data) == len(plain)
    assert mask.sum() > corners.sum()


def test_quadtree_mask_with_centres():
    img = smooth_image(64, 80)
    for density in (0.02, 0.1, 0.4):
        m = quadtree_mask(img, density, centres=True)
        assert round(density * img.size) <= m.sum() <= 1.6 * density * img.size
        data = encode_quadtree(m)
        assert data is not None and data[0] & 0x80
        assert np.array_equal(decode_quadtree(data, 64, 80), m)
        # every final square's centre is stored: the mask is a corner mask plus centres
        assert not np.array_equal(m, quadtree_mask(img, density))


def test_tree_is_recovered_from_the_mask():
    mask = random_tree_mask(37, 29, 4, 0.6, 3)
    levels = tree_from_mask(mask, 4)
    assert levels is not None
    # rebuilding the leaves from the recovered flags gives the same mask
    blocks, leaves = root_blocks(37, 29, 16), []
    for flags in levels:
        leaves.append(blocks[~flags])
        blocks, _ = split_blocks(blocks[flags], 37, 29)
    leaves.append(blocks)
    assert np.array_equal(corner_mask(np.concatenate(leaves), 37, 29), mask)


def test_unstructured_masks_are_not_quadtrees():
    rng = np.random.default_rng(0)
    mask = rng.random((48, 64)) < 0.1
    assert encode_quadtree(mask) is None
    mask = random_tree_mask(48, 64, 4, 0.5, 1)
    mask[20, 21] = ~mask[20, 21]  # one extra or missing point breaks the structure
    assert tree_from_mask(mask, 4) is None


def test_corner_mask_and_block_errors_known_values():
    blocks = np.array([[0, 0, 4], [0, 4, 4]])
    m = corner_mask(blocks, 5, 7)  # the second square is clipped at column 6
    assert sorted(zip(*np.nonzero(m), strict=True)) == [
        (0, 0), (0, 4), (0, 6), (4, 0), (4, 4), (4, 6),
    ]  # fmt: skip
    err = np.arange(35, dtype=float).reshape(5, 7)
    np.testing.assert_allclose(block_errors(err, blocks), [err[:5, :5].sum(), err[:5, 4:7].sum()])


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (2, 2), (5, 3), (33, 17), (64, 80)])
@pytest.mark.parametrize("density", [0.01, 0.05, 0.3, 1.0])
def test_quadtree_mask_density_structure_and_determinism(shape, density):
    img = smooth_image(*shape)
    m = quadtree_mask(img, density)
    target = max(1, round(density * img.size))
    # at least the target; the last round (or the four corners of a tiny image) adds at most
    # a few points more
    assert target <= m.sum() <= max(1.6 * target, target + 5, 4)
    if density == 1.0:
        assert m.all()
    assert np.array_equal(m, quadtree_mask(img, density))
    data = encode_quadtree(m)
    assert data is not None and np.array_equal(decode_quadtree(data, *shape), m)


def test_quadtree_mask_follows_the_error():
    # a flat image with one textured corner: the points concentrate in that corner
    img = np.full((64, 64), 100.0)
    img[:24, :24] += (
        80 * np.sin(np.arange(24) / 2.0)[None, :] * np.cos(np.arange(24) / 3.0)[:, None]
    )
    m = quadtree_mask(img, 0.08)
    assert m[:32, :32].sum() > 3 * m[32:, 32:].sum()


def test_quadtree_mask_density_close_to_target_on_a_photo_sized_image():
    img = smooth_image(96, 144)
    for d in (0.02, 0.05, 0.1):
        assert abs(quadtree_mask(img, d).mean() - d) < 0.25 * d


def test_bitstream_uses_the_split_flag_code():
    mask = random_tree_mask(30, 41, 3, 0.4, 7)
    q = (np.arange(int(mask.sum())) % 16)[None]
    data = write_stream(Header(width=41, height=30, channels=1, levels=(16,)), mask, q)
    h, m2, q2 = read_stream(data)
    assert h.flags & FLAG_QUADTREE and np.array_equal(m2, mask) and np.array_equal(q2, q)
    # an unstructured mask of the same size uses the context coder
    other = mask.copy()
    other[1, 1] = True
    data2 = write_stream(Header(width=41, height=30, channels=1, levels=(16,)), other,
                         (np.arange(int(other.sum())) % 16)[None])  # fmt: skip
    assert not read_stream(data2)[0].flags & FLAG_QUADTREE


def test_golden_quadtree_payload_is_stable():
    # pins the split-flag code of format version 4 (bump FORMAT_VERSION if this changes)
    data = encode_quadtree(random_tree_mask(40, 56, 4, 0.55, 11))
    assert (len(data), hashlib.sha256(data).hexdigest()[:16]) == GOLDEN


GOLDEN = (46, "1a7085f40af5b2fa")


#: the golden payload: 2 bytes (log2 root, levels), 4 probability bytes per level, then words
PAYLOAD_HEAD = 2 + 4 * 4


@pytest.mark.parametrize("cut", [0, 1, 2, 5, PAYLOAD_HEAD - 1])
def test_split_flags_cut_inside_the_tree_head_raise_truncated(cut):
    data = encode_quadtree(random_tree_mask(40, 56, 4, 0.55, 11))
    assert data[:2] == bytes([4, 4])  # root 16, 4 levels: the head is PAYLOAD_HEAD bytes
    with pytest.raises(BitstreamError, match="truncated quadtree mask payload"):
        decode_quadtree(data[:cut], 40, 56)


@pytest.mark.parametrize(
    "head",
    [bytes([0, 0]), bytes([4, 9]), bytes([16, 1]), bytes([0x80, 0]), bytes([0x84, 9]),
     bytes([0x90, 1]), bytes([0xFF, 1])],
)  # fmt: skip
def test_split_flags_with_an_impossible_tree_size_raise(head):
    with pytest.raises(BitstreamError, match="bad tree size"):
        decode_quadtree(head + bytes(40), 40, 56)


@settings(max_examples=100, deadline=None)
@given(payload=st.binary(min_size=0, max_size=60))
def test_forged_split_flag_payloads_decode_or_raise_cleanly(payload):
    """Any payload (with or without the centres bit) gives a mask of the stream's size or a
    BitstreamError, never another exception."""
    for first in (b"", bytes([0x84]), bytes([0x04])):
        try:
            out = decode_quadtree(first + payload, 40, 56)
        except BitstreamError:
            continue
        assert out.shape == (40, 56) and out.dtype == bool


def test_split_flags_cut_inside_the_range_code_are_caught_by_the_stream():
    # a range code cut short decodes to some other tree (the coder cannot tell); the stream's
    # length fields and CRC refuse such a payload before the mask decoder sees it
    mask = random_tree_mask(40, 56, 4, 0.55, 11)
    data = encode_quadtree(mask)
    for cut in range(PAYLOAD_HEAD, len(data)):
        out = decode_quadtree(data[:cut], 40, 56)
        assert out.shape == (40, 56) and not np.array_equal(out, mask)
    assert np.array_equal(decode_quadtree(data, 40, 56), mask)
    q = np.zeros((1, int(mask.sum())), np.int64)
    stream = write_stream(Header(width=56, height=40, channels=1, levels=(16,)), mask, q)
    assert read_stream(stream)[0].flags & FLAG_QUADTREE
    for cut in (len(stream) - 1, len(stream) - 5, len(stream) // 2):
        with pytest.raises(BitstreamError):
            read_stream(stream[:cut])


def test_codec_round_trip_with_quadtree_masks():
    img = np.clip(smooth_image(48, 72), 0, 255).astype(np.uint8)
    res = sparsecodec.encode_image(img, 0.06, "quadtree", levels=32, tonal=True)
    out = sparsecodec.decode(res.data)
    assert read_stream(res.data)[0].flags & FLAG_QUADTREE
    assert sparsecodec.metrics.psnr(img, out) == pytest.approx(res.stats["psnr"], abs=1e-9)
    rgb = np.stack([img, 255 - img, img // 2], axis=2)
    res = sparsecodec.encode_image(rgb, 0.06, "quadtree", levels=32, tonal=False)
    assert sparsecodec.decode(res.data).shape == rgb.shape


def test_info_names_the_mask_code():
    from sparsecodec.codec import describe

    img = np.clip(smooth_image(40, 48), 0, 255).astype(np.uint8)
    qt = sparsecodec.encode(img, density=0.05, mask="quadtree", tonal=False)
    bel = sparsecodec.encode(img, density=0.05, mask="belhachmi", tonal=False)
    assert describe(qt)["mask_code"] == "quadtree split flags"
    assert describe(bel)["mask_code"] == "context-mixing coder"
    assert describe(qt)["bits_per_mask_point"] < describe(bel)["bits_per_mask_point"]


@pytest.mark.parametrize("decoder", ["diffusion", "eed"])
def test_codec_round_trip_with_centre_masks(decoder):
    """--centres streams decode to the encoder's prediction and say so in `info`."""
    from sparsecodec.codec import describe

    img = np.clip(smooth_image(40, 48), 0, 255).astype(np.uint8)
    res = sparsecodec.encode_result(
        img, 0.08, mask="quadtree", decoder=decoder, mask_options={"centres": True}
    )
    m = read_stream(res.data)[1]
    assert np.array_equal(m, res.mask)
    assert np.array_equal(sparsecodec.decode(res.data), res.reconstruction)
    assert describe(res.data)["mask_code"] == "quadtree split flags, corners and centres"
    plain = sparsecodec.encode_result(img, 0.08, mask="quadtree", decoder=decoder)
    assert not np.array_equal(plain.mask, res.mask)
