"""Image folders: decoding, the castings and MVTec layouts, masks, unreadable files."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aecompare.data import load_dataset
from aecompare.data.images import list_images, read_images
from aecompare.errors import ConfigError, DataError, DataNotFoundError
from formats import write_castings, write_images, write_mvtec


def test_castings_layout_with_synthetic_defect_sets(tmp_path: Path) -> None:
    write_castings(tmp_path)
    data = load_dataset("casting", tmp_path, size=16)
    assert data.class_names == ("ok_front", "def_front", "gaussian", "salt_pepper", "objects")
    assert data.x_train.shape == (24, 3, 16, 16)
    assert data.x_train.dtype == data.x_test.dtype == np.uint8  # decoded once, cached as bytes
    # 6 good + 8 real defects + one corrupted copy of each good test image per synthetic kind
    assert np.bincount(data.y_test).tolist() == [6, 8, 6, 6, 6]
    good = data.x_test[data.y_test == 0].astype(float) / 255
    noisy = data.x_test[data.y_test == 2].astype(float) / 255
    assert np.abs(noisy - good).mean() > 0.1  # copies of the same images, corrupted
    assert data.masks_test is None
    only_real = load_dataset("casting", tmp_path, size=16, synthetic=[])
    assert only_real.class_names == ("ok_front", "def_front")


def test_mvtec_layout_reads_masks(tmp_path: Path) -> None:
    write_mvtec(tmp_path / "bottle")
    data = load_dataset("image-folder", tmp_path, path="bottle", size=12, synthetic=["objects"])
    assert data.class_names == ("good", "crack", "objects")
    masks = data.masks_test
    assert masks.shape == (len(data.x_test), 12, 12)
    labels = np.asarray(data.class_names)[data.y_test]
    assert (masks[labels == "good"] == 0).all()
    crack = masks[labels == "crack"]
    assert np.isnan(crack[-1]).all()  # no mask file
    assert set(np.unique(crack[:-1])) == {0.0, 1.0}
    assert crack[0, 4:8, 4:8].all()  # the square at 8:16 of 24 pixels, at 12 pixels
    assert np.isnan(masks[labels == "objects"]).all()


def test_missing_folders_and_unknown_defects_are_named(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="kaggle.com/datasets/ravirajsinh45"):
        load_dataset("casting", tmp_path)
    with pytest.raises(DataNotFoundError, match="has no train/ and test/ folders"):
        load_dataset("image-folder", tmp_path, path="nowhere")
    write_castings(tmp_path, n_train=2, n_ok=1, n_def=1)
    with pytest.raises(ConfigError, match="unknown synthetic defect 'blur'; choose one of: gaussian, objects"):
        load_dataset("casting", tmp_path, synthetic=["blur"])
    with pytest.raises(ConfigError, match="synthetic must be a list of defect kinds"):
        load_dataset("casting", tmp_path, synthetic="gaussian")


def test_unreadable_image_in_a_folder_is_named_or_skipped(tmp_path: Path) -> None:
    write_castings(tmp_path, n_train=3, n_ok=2, n_def=2)
    bad = tmp_path / "casting" / "casting_data" / "train" / "ok_front" / "cast_bad.jpeg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match=r"cast_bad\.jpeg: cannot read this image"):
        load_dataset("casting", tmp_path, size=8)
    assert len(load_dataset("casting", tmp_path, size=8, on_error="skip").x_train) == 3


def test_real_castings(real_data_dir: Path) -> None:
    if not (real_data_dir / "casting").is_dir():
        pytest.skip(f"no casting/ folder in {real_data_dir}")
    data = load_dataset("casting", real_data_dir, size=16, synthetic=["gaussian"])
    assert len(data.x_train) == 2875
    assert np.bincount(data.y_test).tolist() == [262, 453, 262]


def test_folder_images_are_centre_cropped_resized_rgb_uint8(tmp_path: Path) -> None:
    # a 20 x 12 image whose middle 12 x 12 square is white and whose side columns are black
    a = np.zeros((12, 20, 3), dtype=np.uint8)
    a[:, 4:16] = 255
    Image.fromarray(a).save(tmp_path / "wide.png")
    Image.fromarray(a[:, :, 0]).convert("L").save(tmp_path / "gray.png")  # grayscale becomes RGB
    (tmp_path / "notes.txt").write_text("not an image")  # ignored: not an image suffix
    images = read_images(list_images(tmp_path), 12)[0]
    assert images.shape == (2, 3, 12, 12)
    assert images.dtype == np.uint8
    assert (images == 255).all()  # the crop kept only the white middle
    smaller = read_images(list_images(tmp_path), 6)[0]
    assert smaller.shape == (2, 3, 6, 6)
    assert (smaller[:, :, 1:5, 1:5] == 255).all()  # resized from the crop: no black column comes back


def test_unreadable_image_is_named_or_skipped(tmp_path: Path, caplog) -> None:
    write_images(tmp_path, n=2)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DataError, match=r"broken\.png: cannot read this image.*on_error: skip"):
        read_images(list_images(tmp_path), 8)[0]
    with caplog.at_level(logging.WARNING):
        images, kept = read_images(list_images(tmp_path), 8, on_error="skip")
    assert len(images) == 2
    assert "broken.png" not in [p.name for p in kept]
    assert "skipping unreadable image" in caplog.text


def test_missing_or_empty_folder_and_bad_size_are_named(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="not found"):
        list_images(tmp_path / "nope")
    with pytest.raises(DataNotFoundError, match="no image files"):
        list_images(tmp_path)
    write_images(tmp_path, n=1)
    with pytest.raises(ConfigError, match="image size must be an integer of 4 to 2048 pixels"):
        read_images(list_images(tmp_path), 2)[0]


def test_real_celeba_sample_decodes(real_data_dir: Path) -> None:
    folder = real_data_dir / "celeba-sample" / "img_align_celeba"
    if not folder.is_dir():
        pytest.skip(f"no CelebA sample in {folder}")
    files = list_images(folder)
    assert len(files) == 500
    images, _ = read_images(files[:8], 32)
    assert images.shape == (8, 3, 32, 32)
    assert images.std() > 10  # faces, not a blank decode


def test_per_class_keeps_the_first_files_of_each_class(tmp_path: Path) -> None:
    root = write_castings(tmp_path, n_train=6, n_ok=4, n_def=5) / "casting" / "casting_data"
    data = load_dataset("image-folder", path=str(root), size=16, per_class=2)
    assert len(data.x_train) == 2
    assert np.bincount(data.y_test).tolist() == [2, 2]  # def_front, ok_front: two each
    with pytest.raises(ConfigError, match="per_class must be an integer of at least 1"):
        load_dataset("image-folder", path=str(root), size=16, per_class=0)
