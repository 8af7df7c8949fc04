"""AFLW2000-3D reader: fixtures written with scipy.io.savemat; angle conversion, filter, crop, errors."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import scipy.io
import torch
from dataset_files import write_aflw_item

from trans3dhead.data.aflw2000 import AFLW2000Dataset, pose_para_to_matrix
from trans3dhead.data.io import DataError
from trans3dhead.geometry.rotation import matrix_to_euler


def euler_of(pitch, yaw, roll):
    r = pose_para_to_matrix(np.radians(pitch), np.radians(yaw), np.radians(roll))
    return matrix_to_euler(torch.from_numpy(r)).numpy()


def test_frontal_is_zero_and_pure_angles_stay_pure():
    np.testing.assert_allclose(euler_of(0, 0, 0), [0, 0, 0], atol=1e-6)
    roll, pitch, yaw = euler_of(0, 30, 0)
    assert abs(abs(yaw) - 30) < 1e-4 and abs(roll) < 1e-4 and abs(pitch) < 1e-4
    roll, pitch, yaw = euler_of(20, 0, 0)
    assert abs(abs(pitch) - 20) < 1e-4 and abs(roll) < 1e-4 and abs(yaw) < 1e-4
    roll, pitch, yaw = euler_of(0, 0, -15)
    assert abs(abs(roll) - 15) < 1e-4 and abs(pitch) < 1e-4 and abs(yaw) < 1e-4


def test_conversion_keeps_image_geometry():
    """The nose direction (+z of the model) lands on the same image side in both conventions."""
    pitch, yaw, roll = np.radians([10.0, 40.0, 5.0])
    cx, sx, cy, sy, cz, sz = (
        np.cos(pitch),
        np.sin(pitch),
        np.cos(yaw),
        np.sin(yaw),
        np.cos(roll),
        np.sin(roll),
    )
    r3ddfa = (
        np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
        @ np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
        @ np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ).T
    nose = np.array([0.0, 0.0, 1.0])
    up_camera = r3ddfa @ nose  # y up
    ours = pose_para_to_matrix(pitch, yaw, roll) @ nose  # y down
    np.testing.assert_allclose(ours[:2], [up_camera[0], -up_camera[1]], atol=1e-12)


def test_dataset_reads_filters_and_crops(tmp_path):
    write_aflw_item(tmp_path, "image00002", 0, 20, 0)
    write_aflw_item(tmp_path, "image00004", 0, 120, 0)  # |yaw| > 99: dropped by the protocol
    ds = AFLW2000Dataset(root=tmp_path, input_size=64)
    assert len(ds) == 1 and ds.num_filtered == 1
    sample = ds[0]
    assert sample.item_id == "image00002" and sample.image.shape == (3, 64, 64)
    np.testing.assert_allclose(sample.dataset_angles, [0, 20, 0], atol=1e-5)
    assert abs(abs(sample.euler[2]) - 20) < 1e-3
    inside = sample.crop.points_to_crop(sample.landmarks)
    assert (inside >= 0).all() and (inside <= 64).all()
    assert len(AFLW2000Dataset(root=tmp_path, filter_range=False)) == 2


def test_bad_files(tmp_path):
    with pytest.raises(DataError, match="AFLW2000-3D folder not found"):
        AFLW2000Dataset(root=tmp_path / "missing")
    with pytest.raises(DataError, match="no \\*.jpg images"):
        AFLW2000Dataset(root=tmp_path)
    cv2.imwrite(str(tmp_path / "a.jpg"), np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(DataError, match="a.mat: missing annotation for a.jpg"):
        AFLW2000Dataset(root=tmp_path)
    scipy.io.savemat(tmp_path / "a.mat", {"Pose_Para": np.zeros((1, 7))})
    with pytest.raises(DataError, match="a.mat: missing field 'pt3d_68'"):
        AFLW2000Dataset(root=tmp_path)
    scipy.io.savemat(tmp_path / "a.mat", {"Pose_Para": np.zeros((1, 7)), "pt3d_68": np.zeros((3, 60))})
    with pytest.raises(DataError, match=r"a.mat: field 'pt3d_68' has shape \(3, 60\)"):
        AFLW2000Dataset(root=tmp_path)
    (tmp_path / "a.mat").write_bytes(b"not a mat file")
    with pytest.raises(DataError, match="a.mat: not a readable .mat file"):
        AFLW2000Dataset(root=tmp_path)
