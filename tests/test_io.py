"""Shared IO helpers: atomic writes, staged output folders, image decoding, sheets."""
import numpy as np
import pytest

from deeptrash.io import (
    atomic_write_bytes,
    atomic_write_json,
    decode_image,
    encode_image,
    flatten_alpha,
    list_images,
    pieces_touching,
    read_file_table,
    read_image,
    read_kept,
    read_mask,
    require_dir,
    resize,
    shrink_factor,
    shrink_to,
    staged_dir,
    write_image,
)
from deeptrash.errors import UserError
from deeptrash.plots import contact_sheet


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "sub" / "f.bin"
    atomic_write_bytes(target, b"one")
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    assert [p.name for p in target.parent.iterdir()] == ["f.bin"]


def test_atomic_write_failure_keeps_old_file(tmp_path):
    target = tmp_path / "m.json"
    atomic_write_json(target, {"a": 1})
    with pytest.raises(TypeError):
        atomic_write_json(target, {"a": object()})
    assert target.read_text().strip() == '{\n  "a": 1\n}'
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_atomic_json_handles_numpy(tmp_path):
    atomic_write_json(tmp_path / "m.json", {"x": np.float32(0.5), "n": np.int64(3), "a": np.arange(2)})
    assert (tmp_path / "m.json").read_text().count("\n") > 1


def test_staged_dir_swaps_on_success_and_keeps_old_on_failure(tmp_path):
    final = tmp_path / "out"
    with staged_dir(final) as tmp:
        (tmp / "a.txt").write_text("first")
    assert (final / "a.txt").read_text() == "first"

    with pytest.raises(RuntimeError):
        with staged_dir(final) as tmp:
            (tmp / "b.txt").write_text("half")
            raise RuntimeError("killed")
    assert sorted(p.name for p in final.iterdir()) == ["a.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]

    with staged_dir(final) as tmp:
        (tmp / "c.txt").write_text("second")
    assert sorted(p.name for p in final.iterdir()) == ["c.txt"]


def test_image_round_trip_and_bad_bytes(tmp_path):
    image = np.zeros((10, 20, 3), np.uint8)
    image[:, :10] = (255, 0, 0)  # blue in BGR
    write_image(tmp_path / "x.png", image)
    back = read_image(tmp_path / "x.png")
    assert back.shape == (10, 20, 3) and np.array_equal(back, image)
    assert decode_image(b"") is None
    assert decode_image(b"not an image at all") is None
    assert read_image(tmp_path / "missing.png") is None
    gray = decode_image(encode_image(np.full((4, 4), 7, np.uint8)))
    assert gray.shape == (4, 4, 3)


def test_read_mask_binarises(tmp_path):
    write_image(tmp_path / "m.png", np.array([[0, 100], [200, 255]], np.uint8))
    assert read_mask(tmp_path / "m.png").tolist() == [[0, 0], [255, 255]]


def test_list_images_skips_hidden_and_non_images(tmp_path):
    for name in ["b.jpg", "a.PNG", ".hidden.png", "notes.txt"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "dir.png").mkdir()
    assert [p.name for p in list_images(tmp_path)] == ["a.PNG", "b.jpg"]


def test_contact_sheet_layout():
    rgba = np.zeros((30, 60, 4), np.uint8)
    rgba[..., 2] = 255
    rgba[:, :30, 3] = 255
    sheet = contact_sheet([rgba, np.zeros((50, 50, 3), np.uint8), np.zeros((5, 5), np.uint8)],
                          labels=["a", "b", "c"], columns=2, tile=32)
    assert sheet.dtype == np.uint8 and sheet.shape == (2 * (32 + 16 + 4), 2 * 36, 3)
    # The opaque half is red, the transparent half shows the grey checkerboard.
    assert tuple(sheet[16, 4]) == (0, 0, 255)
    assert sheet[16, 28, 0] == sheet[16, 28, 2] != 0
    empty = contact_sheet([], title="rejects")
    assert empty.ndim == 3 and empty.shape[0] > 0


def test_shrink_to_caps_the_long_side_and_never_enlarges():
    image = np.zeros((300, 1000, 3), np.uint8)
    assert shrink_to(image, 500).shape == (150, 500, 3)
    assert shrink_to(image, 2000) is image
    assert resize(image, 10, 20).shape == (20, 10, 3)


def test_read_file_table_reads_strings_and_refuses_tables_without_files(tmp_path):
    table = tmp_path / "kept.csv"
    table.write_text("file,source,w\n007.png,,12\nNA.jpg,a.jpg,3\n")
    frame = read_file_table(table)
    assert list(frame["file"]) == ["007.png", "NA.jpg"]  # strings as written: no 7, no NaN
    assert list(frame["source"]) == ["", "a.jpg"] and list(frame["w"]) == ["12", "3"]
    for empty in ("", "\n"):
        table.write_text(empty)
        assert read_file_table(table).empty and "file" in read_file_table(table).columns
    table.write_text("name,w\na.png,1\n")
    with pytest.raises(UserError, match="kept.csv: no 'file' column"):
        read_file_table(table)
    table.write_text('file\n"a.png\n')  # an unclosed quote
    with pytest.raises(UserError, match="not a readable CSV") as error:
        read_file_table(table)
    assert "\n" not in str(error.value)
    with pytest.raises(UserError, match="cannot be read"):
        read_file_table(tmp_path / "missing.csv")


def test_read_kept_lists_kept_names_and_says_which_stage_writes_them(tmp_path):
    with pytest.raises(UserError, match=r"kept.csv not found \(run the filter stage: dvc repro filter_trash\)"):
        read_kept(tmp_path, "dvc repro filter_trash")
    (tmp_path / "kept.csv").write_text("file,width\n0001.png,64\n,64\nNA.jpg,80\n")
    assert read_kept(tmp_path, "unused") == ["0001.png", "NA.jpg"]  # blank names skipped, names as written
    (tmp_path / "kept.csv").write_text("name,width\na.png,64\n")
    with pytest.raises(UserError, match="no 'file' column"):
        read_kept(tmp_path, "unused")


def test_shrink_factor_brings_the_long_side_down_and_never_enlarges():
    assert shrink_factor((300, 600, 3), 150) == 0.25
    assert shrink_factor((600, 300), 150) == 0.25
    assert shrink_factor((100, 80, 3), 150) == 1.0


def test_require_dir_names_the_missing_input(tmp_path):
    assert require_dir(tmp_path, "photos") == tmp_path
    with pytest.raises(UserError, match="cut-outs not found: .*nope"):
        require_dir(tmp_path / "nope", "cut-outs")


def test_flatten_alpha_composites_over_grey_or_a_picture():
    image = np.zeros((2, 3, 4), np.uint8)
    image[..., :3] = 200
    image[0, :, 3] = 255          # opaque row keeps its colour
    image[1, :, 3] = 0            # transparent row shows the background
    assert (flatten_alpha(image, 128)[0] == 200).all() and (flatten_alpha(image, 128)[1] == 128).all()
    board = np.full((2, 3, 3), 40, np.uint8)
    assert (flatten_alpha(image, board)[1] == 40).all()
    image[:, :, 3] = 128          # half: (200 * 128 + 128 * 127) / 255 = 164.16, truncated
    assert (flatten_alpha(image, 128) == 164).all()
    bgr = image[:, :, :3]
    assert flatten_alpha(bgr) is bgr


def test_pieces_touching_keeps_whole_pieces_a_seed_falls_in():
    mask = np.zeros((6, 10), bool)
    mask[0:2, 0:3] = True       # piece A
    mask[3:6, 5:9] = True       # piece B
    mask[2, 3] = True           # touches A only diagonally: 8-connected, part of A
    seed = np.zeros_like(mask)
    seed[5, 8] = True           # in B
    seed[0, 9] = True           # outside every piece: ignored
    kept = pieces_touching(mask, seed)
    assert (kept == (mask & (np.arange(10) >= 5))).all()
    seed[0, 0] = True
    assert (pieces_touching(mask, seed) == mask).all()
    assert not pieces_touching(mask, np.zeros_like(mask)).any()
