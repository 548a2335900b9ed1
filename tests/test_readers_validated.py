"""Every reader and spec option validated up front: a malformed COCO, VOC or CSV file and an odd option value are
one line (the CLI: exit 2, no traceback) naming what is wrong, never a traceback and never taken silently."""
import json

import numpy as np
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


def edit_json(path, edit) -> None:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["annotations"][0].pop("bbox"), r"annotations\[0\] has no 'bbox' \(expected a list\)"),
    (lambda d: d["annotations"][0].pop("image_id"), r"annotations\[0\] has no 'image_id' \(expected an integer\)"),
    (lambda d: d["images"][1].pop("id"), r"images\[1\] has no 'id'"),
    (lambda d: d["categories"][0].pop("id"), r"categories\[0\] has no 'id'"),
    (lambda d: d["categories"][1].pop("name"), r"categories\[1\] has no 'name' \(expected a non-empty string\)"),
    (lambda d: d["images"][0].pop("width"), r"images\[0\] has no 'width' \(expected a finite number\)"),
    (lambda d: d["images"][0].pop("file_name"), r"images\[0\] has no 'file_name'"),
    (lambda d: d["annotations"][0].update(bbox=[10, 5, 20]), r"annotations\[0\]: bbox \[10, 5, 20\] has 3 numbers"),
    (lambda d: d["annotations"][0].update(bbox=None), r"annotations\[0\]: bbox is None \(expected a list\)"),
    (lambda d: d["annotations"][1].update(bbox=[2, 2, "wide", 9]), r"annotations\[1\] bbox entry is 'wide', not a finite"),
    (lambda d: d["categories"][0].update(id="1"), r"categories\[0\]: id is '1' \(expected an integer\)"),
    (lambda d: d["images"][0].update(height=True), r"images\[0\] height is True, not a finite number"),
    (lambda d: d["images"][0].update(width="NaN"), r"images\[0\] width is 'NaN', not a finite number"),
    (lambda d: d["images"][1].update(id=1), r"image id 1 appears more than once"),
    (lambda d: d.update(annotations={"id": 1}), r"json: annotations is \{'id': 1\} \(expected a list\)"),
])
def test_coco_malformed_fields_are_one_line(coco_json, cli_main, edit, message):
    edit_json(coco_json, edit)
    with pytest.raises(LabelspaceError, match=message):
        load_dataset(f"coco:{coco_json}")
    assert "coco" in refused(cli_main, f"coco:{coco_json}")


def test_coco_duplicate_category_names_are_refused(coco_json, cli_main):
    edit_json(coco_json, lambda d: d["categories"].extend([{"id": 3, "name": "Dog"}, {"id": 4, "name": "person"}]))
    with pytest.raises(LabelspaceError, match="category name person, dog appears more than once"):
        load_dataset(f"coco:{coco_json}")
    assert "category name person, dog" in refused(cli_main, f"coco:{coco_json}")


VOC = {"000001": ((64, 48), [("dog", (10, 5, 30, 25), False, False)])}


@pytest.mark.parametrize("old, new, message", [
    ("<xmax>30</xmax>", "<xmax>thirty</xmax>", r"object 0 \(dog\) <xmax> is 'thirty', not a finite number"),
    ("<ymin>6</ymin>", "<ymin>nan</ymin>", r"object 0 \(dog\) <ymin> is 'nan', not a finite number"),
    ("<width>64</width>", "<width>64px</width>", r"000001.xml: <width> is '64px', not a finite number"),
])
def test_voc_non_numeric_boxes_are_one_line(tmp_path, cli_main, old, new, message):
    voc = write_voc(tmp_path, VOC, {"val": ["000001"]})
    xml = voc / "Annotations" / "000001.xml"
    assert old in xml.read_text()
    xml.write_text(xml.read_text().replace(old, new))
    with pytest.raises(LabelspaceError, match=message):
        load_dataset(f"voc:{voc}")
    assert "000001.xml" in refused(cli_main, f"voc:{voc}")


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


@pytest.mark.parametrize("spec, message", [
    ("synthetic-captions@0", "scene count in 'synthetic-captions@0' must be a whole number >= 1, got '0'"),
    ("synthetic-captions@", "must be a whole number >= 1, got ''"),
    ("synthetic-captions@-5", "got '-5'"),
    ("synthetic-captions@²", "got '²'"),
    ("folder:{tmp}@10", "caption source 'folder' takes no @N"),
])
def test_a_caption_count_below_one_or_where_none_is_taken_is_refused(tmp_path, cli_main, spec, message):
    spec = spec.format(tmp=tmp_path)
    code, _, err = cli_main("train", "clip", "--data", spec, "--steps", "1", "--out", str(tmp_path / "run"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert message in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("count", ["0", "", "x"])
def test_images_per_class_below_one_is_refused(count):
    with pytest.raises(LabelspaceError, match=f"images per class in 'synthetic@{count}' must be a whole number >= 1"):
        load_dataset(f"synthetic@{count}")


def test_word_vectors_whose_length_overflows_float32_are_refused(tmp_path):
    from labelspace.encoders.text import WordVectors, word_vector_file

    (tmp_path / "v.txt").write_text("cat 1 2\ndog 3e38 3e38\n")
    with pytest.raises(LabelspaceError, match=r"line 2 \('dog'\): the vector's length overflows float32"):
        word_vector_file(str(tmp_path / "v.txt"))
    vectors = WordVectors("table", ["cat", "dog"], np.array([[1, 2], [3e38, 3e38]], dtype=np.float32), "test")
    np.testing.assert_allclose(vectors.encode(["cat"]), [[1 / 5 ** 0.5, 2 / 5 ** 0.5]], rtol=1e-6)
    with pytest.raises(LabelspaceError, match=r"vector of 'dog' \(label 'hot dog'\) has a length that is not a finite"):
        vectors.encode(["hot dog"])


class CountingVocab:
    """A vocabulary that counts its look-ups, and the pieces of more than ``MAX_PIECE`` letters it is asked about,
    and refuses to answer past ``budget`` look-ups (the old code made 52M for 10,200 letters)."""

    def __init__(self, words, budget):
        from labelspace.encoders.text import MAX_PIECE

        self.words, self.budget, self.lookups, self.long, self.max_piece = set(words), budget, 0, set(), MAX_PIECE

    def __contains__(self, piece):
        self.lookups += 1
        if len(piece) > self.max_piece:
            self.long.add(piece)
        assert self.lookups <= self.budget, "segmentation is not linear in the label's length"
        return piece in self.words


@pytest.mark.parametrize("word", ["ab" * 5100, "abc" * 3400, "ab" * 5099 + "zz"])
def test_a_10200_letter_label_segments_in_linear_time(word):
    import time

    from labelspace.encoders.text import MAX_PIECE, label_tokens

    vocab = CountingVocab({"ab", "abab", "abc", "ca", "bca"}, budget=MAX_PIECE * len(word))
    start = time.perf_counter()
    tokens = label_tokens(word, vocab)
    assert time.perf_counter() - start < 2
    assert "".join(tokens) == word or word.endswith("zz") and tokens == []
    assert vocab.long == {word}  # the whole word is looked up once; its pieces are at most MAX_PIECE letters
    if word == "ab" * 5100:
        assert tokens == ["abab"] * 2550  # still the fewest pieces


def test_a_too_long_label_is_refused(tmp_path, cli_main):
    from PIL import Image

    Image.new("RGB", (8, 8), "red").save(tmp_path / "a.png")
    code, _, err = cli_main("classify", str(tmp_path / "a.png"), "--labels", "cat," + "a" * 10200)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "is 10200 characters long (accepted: at most 200)" in err


def test_linear_segmentation_splits_as_the_quadratic_one_did():
    import random

    from labelspace.words import segment as _segment

    def quadratic(word, vocab):  # the former implementation: every piece of every length
        best = [[]] + [None] * len(word)
        for end in range(2, len(word) + 1):
            for start in range(0, end - 1):
                if best[start] is not None and word[start:end] in vocab:
                    candidate = best[start] + [word[start:end]]
                    if best[end] is None or len(candidate) < len(best[end]):
                        best[end] = candidate
        return best[len(word)]

    rng = random.Random(0)
    vocab = {"".join(rng.choice("abc") for _ in range(rng.randint(2, 6))) for _ in range(40)}
    pieces = sorted(vocab)
    words = ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 15))) for _ in range(300)]  # up to 90 letters
    words += ["".join(rng.choice("abc") for _ in range(rng.randint(1, 40))) for _ in range(300)]
    assert all(_segment(w, vocab) == quadratic(w, vocab) for w in words)
