"""The PAD evaluation harness (trustface bench pad) on a small slice of the real data: the report has
the ISO/IEC 30107-3 figures, and the CLI writes them (the full run is in docs/benchmarks.md)."""

import json

from conftest_data import require_data

from trustface.bench import pad


def test_pad_report_on_a_small_slice():
    root = require_data()
    require_data("lfw", "images")
    report = pad.run(root, people=3, stride=200, video_bursts=2)
    assert set(report["apcer"]) == set(pad.SPECIES)  # issue 17: photo sets, near copies, screens
    assert report["apcer_worst"] == max(report["apcer"].values())
    assert 0.0 <= report["bpcer"] <= 1.0
    assert report["data"]["photo_sequences"] == 3 and report["data"]["attacks"] == 5 * report["data"]["bona_fide"]
    assert "3D masks" in report["not_covered"] and "real screens (phone/tablet/monitor replay)" in report["not_covered"]
    assert "SIMULATED" in report["species"]["print_recapture"] and "SIMULATED" in report["species"]["screen_replay"]
    assert set(report["gate_frame"]["apcer"]) == {"still_replay", "near_copy_replay", "print_recapture",
                                                  "screen_replay"}
    # every photo set is refused on the burst route (different sittings are not one capture)
    assert report["apcer"]["photo_set"] == 0.0
    at5 = report["pad_model_at_bpcer5"]
    assert at5["bpcer"] <= 0.05 + 1e-9 and set(at5["apcer"]) <= set(pad.SPECIES)
    # exact replays never pass, on either route
    for route in (report, report["gate_frame"]):
        exact = route["apcer_by_variant"].get("still_replay/exact")
        assert exact is None or exact["accepted"] == 0
    json.dumps(report)


def test_bench_pad_cli_help(cli):
    out = cli("bench", "pad", "--help")
    assert out.returncode == 0 and "30107-3" in out.stdout
