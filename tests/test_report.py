"""The sparsity report: table, manifest, HTML with one heatmap per sparse layer, CLI."""

from __future__ import annotations

import json
import re

import torch
from conftest import filecheck, run_cli

import sparsile


def test_report_of_a_model_pruned_three_ways(tmp_path):
    import pruned_models

    model, args = pruned_models.mlp()
    # The storage formats are fixed so that the table below does not depend on the cost model's figures.
    compiled = sparsile.compile(model, args, pass_options={"schedule": {"formats": ["csr", "nm", "channels"]}})
    report = compiled.report
    assert [layer.name for layer in report] == [f"layers.{i}.weight" for i in range(4)]
    assert [layer.pattern for layer in report] == ["csr", "2:4", "bsr16", "channels"]
    # The storage that runs: a format holding the pattern, or dense with the reason.
    holds = {"csr": {"csr"}, "2:4": {"nm", "csr"}, "bsr16": {"csr"}, "channels": {"channels"}}
    for layer in report:
        assert layer.format in holds[layer.pattern] or (layer.format == "dense" and layer.fallback.startswith("predicted"))
    assert report["layers.0"].format == "csr" and report["layers.3"].format == "channels"
    assert abs(report["layers.0"].density - 0.1) < 1e-3 and report["layers.3"].density == 0.5
    assert report["layers.3"].detected == "channels; 32/64 rows empty"
    for layer in report:
        assert layer.sparse_flops < layer.dense_flops or layer.format == "dense"
        assert layer.speedup in ("none", "small", "moderate", "large")
    filecheck(
        report.table(),
        "CHECK: layer{{ +}}shape{{ +}}density{{ +}}detected{{ +}}pattern{{ +}}by{{ +}}stored as\n"
        "CHECK: layers.0.weight  512x256  0.100    csr{{ +}}csr{{ +}}detected{{ +}}csr\n"
        "CHECK: layers.1.weight  512x512  0.500    2:4{{ +}}2:4{{ +}}detected\n"
        "CHECK: layers.2.weight  256x512  0.250    bsr16{{.*}}bsr16{{ +}}detected\n"
        "CHECK: layers.3.weight  64x256   0.500    channels; 32/64 rows empty{{ +}}channels{{ +}}detected{{ +}}channels\n"
        "CHECK: layers.0.weight: csr: CSR, 16-bit columns\n",
    )
    # The report travels in the manifest and comes back from a saved artifact.
    directory = compiled.save(tmp_path / "art")
    layers = json.loads((directory / "manifest.json").read_text())["layers"]
    assert [row["pattern"] for row in layers] == ["csr", "2:4", "bsr16", "channels"]
    assert [row["format"] for row in layers] == [layer.format for layer in report]
    assert sparsile.load(directory).report.table() == report.table()
    torch.testing.assert_close(compiled(*args), model(*args).detach(), rtol=1e-4, atol=1e-5)


def test_html_has_one_image_per_sparse_layer(tmp_path):
    import pruned_models

    model, args = pruned_models.encoder_block()
    report = sparsile.analyze(model, args)
    html = report.write_html(tmp_path / "r.html").read_text()
    images = re.findall(r'<img alt="mask of ([^"]+)" src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    sparse_layers = [layer.name for layer in report if layer.density < 1.0]
    assert [name for name, _ in images] == sparse_layers == ["qkv.weight", "proj.weight", "fc1.weight", "fc2.weight"]
    import base64

    for _, data in images:
        assert base64.b64decode(data).startswith(b"\x89PNG\r\n\x1a\n")


def test_html_opens_with_a_summary_and_draws_masks_at_their_shape(tmp_path):
    import base64

    import numpy as np
    import pruned_models

    model, args = pruned_models.encoder_block()
    report = sparsile.analyze(model, args)
    fc1, fc2 = report["fc1"], report["fc2"]
    assert fc1.shape == (512, 128) and fc1.density_map["shape"] == [64, 16]  # square cells: the weight's aspect ratio
    assert fc2.density_map["shape"] == [16, 64]
    # fc1 lost half its output rows and fc2 the matching inputs (compacted away): the maps still
    # show them, empty, instead of drawing the kept sub-matrix as a solid block (which would
    # fill the map to stored / kept-area, 1.0 for fc1, not stored / whole area).
    for layer in (fc1, fc2):
        cells = np.frombuffer(base64.b64decode(layer.density_map["data"]), np.uint8)
        assert abs(cells.mean() / 255 - layer.stored_values / (layer.shape[0] * layer.shape[1])) < 0.01, layer.name
    assert abs(fc1.stored_values / (512 * 128) - 0.5) < 0.01
    page = report.write_html(tmp_path / "r.html", target="cpu").read_text()
    summary = page[page.index("<table class='summary'>"):page.index("</table>")]
    s = report.summary()
    assert s["weights"] == 4 and s["parameters"] == sum(l.shape[0] * l.shape[1] for l in report)
    assert "<th>target</th><td>cpu</td>" in summary and f"{s['sparsity']:.1%} zeros" in summary
    assert re.search(r"<th>bytes dense / stored</th><td>[0-9.]+ MiB / [0-9.]+ MiB</td>", summary)
    assert s["stored_bytes"] < s["dense_bytes"]
    assert re.search(r"<th>predicted time dense / sparse</th><td>[0-9.]+ us / [0-9.]+ us", summary)
    assert "<th>predicted us sparse/dense</th>" in page
    assert 'in features 0..127 &rarr;' in page and 'out features 0..511 &rarr;' in page


def test_dense_layers_get_no_image(tmp_path, models):
    model, args = models.mlp()
    report = sparsile.analyze(model, args)
    assert {layer.pattern for layer in report} == {"dense"}
    assert "<img" not in report.write_html(tmp_path / "dense.html").read_text()


def test_cli_report_prints_the_right_pattern_for_every_layer(tmp_path):
    result = run_cli("report", "examples/pruned_models.py:encoder_block", "--html", str(tmp_path / "r.html"), check=True)
    filecheck(
        result.stdout,
        "CHECK: qkv.weight{{ +}}384x128{{ +}}0.500{{ +}}2:4{{ +}}2:4{{ +}}detected{{ +}}{{csr|nm|bitmask|dense \\(fallback\\)}}\n"
        "CHECK: proj.weight{{ +}}128x128{{ +}}0.250{{ +}}bsr16{{ +}}bsr16{{ +}}detected{{ +}}{{csr|bsr|bitmask|dense \\(fallback\\)}}\n"
        "CHECK: fc1.weight{{ +}}512x128{{ +}}0.500{{ +}}channels; 256/512 rows empty{{ +}}channels{{ +}}detected{{ +}}channels\n"
        "CHECK: fc2.weight{{ +}}128x512{{ +}}0.100{{ +}}csr{{ +}}csr{{ +}}detected{{ +}}{{csr|bitmask}}\n"
        "CHECK: HTML report: {{.*}}r.html\n",
    )
    result = run_cli("report", "examples/pruned_models.py:mlp", "--sparsity", "layers.1=csr", check=True)
    assert re.search(r"layers.1.weight\s+512x512\s+0.500\s+2:4\s+csr\s+override\s+(csr|bitmask)\s", result.stdout)


def test_cli_report_of_an_artifact(tmp_path):
    run_cli("compile", "examples/pruned_models.py:mlp", "-o", str(tmp_path / "art"), "-q", check=True)
    result = run_cli("report", str(tmp_path / "art"), check=True)
    assert re.search(r"layers.2.weight\s+256x512\s+0.250\s+bsr16", result.stdout)
