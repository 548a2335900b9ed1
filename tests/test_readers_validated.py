"""Every reader and spec option validated up front: a malformed COCO, VOC or CSV file and an odd option value are
one line (the CLI: exit 2, no traceback) naming what is wrong, never a traceback and never taken silently."""

import pytest
from dataset_fixtures import write_coco, write_voc

from labelspace.data import load_dataset
from labelspace.errors import LabelspaceError


def refused(cli_main, spec: str) -> str:
    """``labelspace eval`` on dataset ``spec``: exit 2 with one line and no traceback; returns that line."""
    code, _, err = cli_main("eval", "--task", "zeroshot_classification", "--dataset", spec)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err.strip()


@pytest.fixture
def coco_json(tmp_path):
    return write_coco(tmp_path / "coco", [((64, 48), [(18, [10, 5, 20, 20], False)]), ((32, 32), [(1, [2, 2, 9, 9], False)])],
                      [(1, "person"), (18, "dog")])


VOC = {"000001": ((64, 48), [("dog", (10, 5, 30, 25), False, False)])}


@pytest.mark.parametrize("kind", ["voc", "coco"])
@pytest.mark.parametrize("option, value", [("min_size", "nan"), ("margin", "nan"), ("margin", "inf"),
                                           ("min_size", "-1"), ("margin", "-0.1"), ("min_size", "ten")])
def test_numeric_spec_options_are_range_checked(tmp_path, coco_json, cli_main, kind, option, value):
    path = write_voc(tmp_path, VOC, {"val": ["000001"]}) if kind == "voc" else coco_json
    with pytest.raises(LabelspaceError, match=rf"option {option}='{value}' .*\(accepted: a finite number >= 0\)"):
        load_dataset(f"{kind}:{path},{option}={value}")
    assert f"option {option}='{value}'" in refused(cli_main, f"{kind}:{path},{option}={value}")


def test_an_option_given_twice_is_refused(coco_json):
    with pytest.raises(LabelspaceError, match="option 'margin' is given twice"):
        load_dataset(f"coco:{coco_json},margin=0.1,margin=0.2")


LATIN1 = "path,label\nphoto.png,café\n".encode("latin-1")  # é is byte 0xe9 at offset 24, on line 2


@pytest.mark.parametrize("kind", ["csv", "captions", "multilabel"])
def test_a_latin1_csv_is_one_line_naming_the_byte(tmp_path, cli_main, kind):
    (tmp_path / "rows.csv").write_bytes(LATIN1)
    with pytest.raises(LabelspaceError, match=r"rows.csv' is not UTF-8 text: byte 0xe9 at offset 24 \(line 2\)"):
        load_dataset(f"{kind}:{tmp_path / 'rows.csv'}")
    assert "byte 0xe9 at offset 24" in refused(cli_main, f"{kind}:{tmp_path / 'rows.csv'}")


def test_a_latin1_imagenet_list_and_voc_split_are_one_line(tmp_path):
    from labelspace.data.captions import caption_data

    (tmp_path / "flat").mkdir()
    (tmp_path / "truth.txt").write_bytes("café.JPEG n01440764\n".encode("latin-1"))
    with pytest.raises(LabelspaceError, match=r"ImageNet ground-truth file .* byte 0xe9 at offset 3 \(line 1\)"):
        load_dataset(f"imagenet:{tmp_path / 'flat'},labels={tmp_path / 'truth.txt'}")
    voc = write_voc(tmp_path, VOC, {"val": ["000001"]})
    (voc / "ImageSets" / "Main" / "val.txt").write_bytes(b"000001\n00000\xe9\n")
    with pytest.raises(LabelspaceError, match=r"PASCAL VOC split file .* byte 0xe9 at offset 12 \(line 2\)"):
        load_dataset(f"voc:{voc}")
    (tmp_path / "rows.csv").write_bytes(LATIN1)
    with pytest.raises(LabelspaceError, match="byte 0xe9 at offset 24"):  # training captions: the same reader
        caption_data(f"captions:{tmp_path / 'rows.csv'}")


@pytest.mark.parametrize("kind", ["csv", "captions", "multilabel"])
def test_a_byte_order_mark_leaves_the_header_a_header(tmp_path, kind):
    (tmp_path / "rows.csv").write_text("path,label\nred.png,red\nblue.png,blue\n", encoding="utf-8-sig")
    data = load_dataset(f"{kind}:{tmp_path / 'rows.csv'}")
    if kind == "captions":
        assert data.captions == ["red", "blue"]
    else:
        assert len(data) == 2 and data.class_names == ["blue", "red"]
