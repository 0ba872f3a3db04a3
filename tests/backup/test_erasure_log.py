"""The erasure log's file format: append-only, hash-chained (HMAC under the key file's audit key),
ids only, mode 0600; a torn tail from a crash is cut, an edit, drop or reorder is named (R14, R21)."""

from __future__ import annotations

import json
import os

import pytest

from trustface.gallery import erasure_log as elog

KEY = elog.log_key(b"k" * 32)


def _body(i: int) -> dict:
    return {"event": "purge", "at": f"2026-12-08T00:00:0{i}+00:00", "tenant_id": None, "subject_id": f"sub_{i}",
            "purpose_id": "pur_1", "mode": "identify", "reason": "withdrawn", "key_version": 1,
            "certificate_ids": [f"del_{i}"]}


def test_append_read_and_the_chain(tmp_path):
    path = tmp_path / "erasure.log"
    assert elog.position(path, KEY) == (0, elog.GENESIS)
    assert elog.append(path, KEY, [_body(1), _body(2)]) == 2
    assert elog.append(path, KEY, [_body(3)]) == 3
    assert os.stat(path).st_mode & 0o777 == 0o600
    state = elog.read(path, KEY)
    assert [e["subject_id"] for e in state.entries] == ["sub_1", "sub_2", "sub_3"]
    assert [e["n"] for e in state.entries] == [1, 2, 3] and state.entries[1]["prev"] == state.entries[0]["mac"]
    assert elog.position(path, KEY) == (3, state.entries[-1]["mac"])
    with pytest.raises(elog.ErasureLogError):  # another key file's log does not verify
        elog.read(path, elog.log_key(b"x" * 32))


def test_only_ids_are_written(tmp_path):
    with pytest.raises(ValueError, match="ids only"):
        elog.append(tmp_path / "erasure.log", KEY, [{**_body(1), "display_name": "Alice"}])


@pytest.mark.parametrize("damage", ["edit", "drop", "swap", "garbage"])
def test_tampering_is_named_with_the_lines_that_verify(tmp_path, damage):
    path = tmp_path / "erasure.log"
    elog.append(path, KEY, [_body(i) for i in range(1, 5)])
    lines = path.read_text().splitlines(keepends=True)
    if damage == "edit":
        entry = json.loads(lines[2])
        entry["subject_id"] = "sub_other"
        lines[2] = json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n"
    elif damage == "drop":
        del lines[2]
    elif damage == "swap":
        lines[2], lines[3] = lines[3], lines[2]
    else:
        lines[2] = "{not json\n"
    path.write_text("".join(lines))
    with pytest.raises(elog.ErasureLogError, match="line 3 ") as info:
        elog.read(path, KEY)
    assert [e["n"] for e in info.value.verified] == [1, 2]


def test_a_torn_tail_is_left_out_and_cut_at_the_next_append(tmp_path):
    path = tmp_path / "erasure.log"
    elog.append(path, KEY, [_body(1), _body(2)])
    with open(path, "a") as fh:
        fh.write('{"n":3,"event":"pur')  # a crash mid-append: that purge never committed
    state = elog.read(path, KEY)
    assert state.torn_tail and state.length == 2
    assert elog.append(path, KEY, [_body(3)]) == 3
    state = elog.read(path, KEY)
    assert not state.torn_tail and [e["subject_id"] for e in state.entries] == ["sub_1", "sub_2", "sub_3"]
