from __future__ import annotations

from jlcompose.core.hashing import image_hash, normalize_requirements

FILES = [("Dockerfile", b"FROM x\n"), ("torch/requirements.txt", b"numpy==2.0\n")]


def test_same_inputs_same_hash() -> None:
    assert image_hash(FILES, {"BASE_IMAGE": "a"}) == image_hash(list(reversed(FILES)), {"BASE_IMAGE": "a"})


def test_each_input_changes_the_hash() -> None:
    base = image_hash(FILES, {"BASE_IMAGE": "a"}, "sha256:1")
    assert (
        image_hash([FILES[0], ("torch/requirements.txt", b"numpy==2.1\n")], {"BASE_IMAGE": "a"}, "sha256:1")
        != base
    )
    assert image_hash([("Dockerfile", b"FROM y\n"), FILES[1]], {"BASE_IMAGE": "a"}, "sha256:1") != base
    assert image_hash(FILES, {"BASE_IMAGE": "b"}, "sha256:1") != base
    assert image_hash(FILES, {"BASE_IMAGE": "a"}, "sha256:2") != base
    assert image_hash([*FILES, ("torch/extra.txt", b"x\n")], {"BASE_IMAGE": "a"}, "sha256:1") != base


def test_renaming_a_file_changes_the_hash() -> None:
    moved = [FILES[0], ("torch/req.txt", FILES[1][1])]
    assert image_hash(moved, {}) != image_hash(FILES, {})


def test_comments_blank_lines_and_line_endings_do_not_matter() -> None:
    a = image_hash([("t/requirements.txt", b"numpy==2.0\nsix\n")], {})
    b = image_hash([("t/requirements.txt", b"# data\r\nnumpy==2.0   # pinned\r\n\r\n  six\r\n")], {})
    assert a == b


def test_order_of_requirements_matters() -> None:
    assert image_hash([("r.txt", b"a\nb\n")], {}) != image_hash([("r.txt", b"b\na\n")], {})


def test_non_requirement_files_hash_byte_for_byte() -> None:
    assert image_hash([("Dockerfile", b"# c\nFROM x\n")], {}) != image_hash([("Dockerfile", b"FROM x\n")], {})


def test_normalize_keeps_options_and_urls() -> None:
    text = "-r base.txt\n--index-url https://x/simple#frag\nfoo @ https://h/f.whl#sha256=1\n"
    assert normalize_requirements(text).splitlines() == [
        "-r base.txt",
        "--index-url https://x/simple#frag",
        "foo @ https://h/f.whl#sha256=1",
    ]
