"""The embedded host: parses the shipped Gadgetron configurations and runs them in-process."""

import ismrmrd
import numpy as np
import pytest
from pipeline_helpers import TEST_METHOD, helpers, make_header, write_raw

from gadgets.base import properties_from_config
from pipelines.cli import main
from pipelines.errors import UserError
from pipelines.streaming.host import CONFIG_DIR, Pipeline, load_settings, parse_config, parse_overrides, resolve_config

STREAM = """<?xml version="1.0"?>
<configuration><version>2</version><stream>{}</stream></configuration>"""


def external(module, target, props=""):
    return (f'<external><execute name="{module}" target="{target}" type="python"/>'
            f"<configuration>{props}</configuration></external>")


@pytest.mark.parametrize("name, method", [("cartesian", "l-plus-s"), ("radial", "grasp")])
def test_shipped_configs_parse(name, method):
    pipeline = Pipeline.load(name)
    assert [n.module for n in pipeline.nodes] == ["gadgets.noise", "gadgets.oversampling",
                                                  "gadgets.cine_reconstruction"]
    assert pipeline.properties["method"] == method
    assert resolve_config(name) == CONFIG_DIR / f"{name}.xml"


def test_overrides_go_to_the_node_that_declares_them():
    pipeline = Pipeline.load("cartesian", {"method": "cg-sense", "device": "cpu", "iterations": "3",
                                           "preserve_scale": "false", "waveforms": "pass"})
    assert pipeline.nodes[-1].properties["method"] == "cg-sense"
    assert pipeline.nodes[-1].properties["iterations"] == "3"
    assert pipeline.nodes[0].properties["preserve_scale"] == "false"
    assert pipeline.nodes[0].properties["waveforms"] == "pass"  # a key every node takes: the first node's
    assert "method" not in pipeline.nodes[0].properties and "preserve_scale" not in pipeline.nodes[-1].properties


def test_json_values_are_typed_and_checked_like_text():
    pipeline = Pipeline.load("cartesian")
    routed = pipeline.override({"method": "cg-sense", "iterations": 3, "lam": 0.5, "calibration_as_data": False,
                                "fallback": "none"})
    assert routed[-1] == {"method": "cg-sense", "iterations": "3", "lam": "0.5", "calibration_as_data": "false",
                          "fallback": "none"}
    node = pipeline.nodes[-1].gadget_class()(pipeline.nodes[-1].properties, make_header())
    buffer, _, recon, _ = node.instances
    assert buffer.config.calibration_as_data is False
    assert (recon.method_config.iterations, recon.method_config.lam, recon.fallback) == (3, 0.5, None)
    with pytest.raises(UserError, match=r"invalid value 'true' for cg-sense.iterations \(expected int\)"):
        Pipeline.load("cartesian").override({"method": "cg-sense", "iterations": True})
    with pytest.raises(UserError, match="one flat mapping"):
        Pipeline.load("cartesian").override({"coil_maps": {"calibration_width": 8}})


@pytest.mark.parametrize("key, nearest", [("windw", "preview"), ("window", "preview"),
                                          ("calibraton_width", "calibration_width"), ("iteratons", "iterations")])
def test_an_unknown_key_is_one_error_naming_it_and_the_nearest(key, nearest):
    with pytest.raises(UserError) as err:
        Pipeline.load("cartesian", {"method": "cg-sense", key: "3"})
    message = str(err.value)
    assert message.startswith(f"pipeline cartesian: no setting {key!r} (nearest: {nearest}") and "\n" not in message


def test_an_unknown_xml_property_is_refused_when_the_configuration_loads():
    props = '<property name="method" value="cg-sense"/><property name="calibraton_width" value="8"/>'
    with pytest.raises(UserError, match=r"^pipeline x: CineReconstruction: no setting 'calibraton_width' "
                                        r"\(nearest: calibration_width"):
        Pipeline(parse_config(STREAM.format(external("gadgets.cine_reconstruction", "CineReconstruction", props))),
                 name="x")


def test_settings_file_then_the_command_line(tmp_path):
    path = tmp_path / "site.yaml"
    path.write_text("method: cg-sense\niterations: 7\ncalibration_as_data: false\noutput: ushort\n")
    pipeline = Pipeline.load("cartesian", {"iterations": "4"}, settings_file=path)
    props = pipeline.nodes[-1].properties
    assert (props["method"], props["iterations"], props["calibration_as_data"], props["output"]) == \
        ("cg-sense", "4", "false", "ushort")
    path.write_text("method: cg-sense\niteratons: 7\n")
    with pytest.raises(UserError, match=rf"^settings file '{path}': no setting 'iteratons' \(nearest: iterations"):
        Pipeline.load("cartesian", settings_file=path)
    path.write_text("iterations: ten\nmethod: cg-sense\n")
    with pytest.raises(UserError, match=r"invalid value 'ten' for cg-sense.iterations \(expected int\)"):
        Pipeline.load("cartesian", settings_file=path)
    for text, match in [("- method\n", "must be a mapping"), ("method: [\n", "not valid YAML")]:
        path.write_text(text)
        with pytest.raises(UserError, match=match):
            load_settings(path)
    with pytest.raises(UserError, match="cannot be read"):
        load_settings(tmp_path / "missing.yaml")


def test_modules_outside_the_gadgets_package_are_refused():
    with pytest.raises(UserError, match="not inside the 'gadgets' package"):
        Pipeline(parse_config(STREAM.format(external("os", "system"))))
    with pytest.raises(UserError, match="not inside"):
        Pipeline(parse_config(STREAM.format(external("gadgetsx.evil", "X"))))


@pytest.mark.parametrize("body, match", [
    ("<gadget><name>X</name><dll>d</dll><classname>C</classname></gadget>", "need Gadgetron"),
    ('<external><connect port="18000"/><configuration/></external>', "execute"),
    ("", "no nodes"),
])
def test_unsupported_nodes_are_refused(body, match):
    with pytest.raises(UserError, match=match):
        parse_config(STREAM.format(body))


def test_bad_xml_and_unknown_pipeline_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="not valid XML"):
        parse_config("<configuration>")
    with pytest.raises(UserError, match="unknown pipeline"):
        resolve_config("spiral")
    with pytest.raises(UserError, match="does not exist"):
        resolve_config(str(tmp_path / "missing.xml"))
    with pytest.raises(UserError, match="key=value"):
        parse_overrides(["novalue"])


@pytest.mark.timeout(120)
def test_pipeline_runs_acquisitions_to_images():
    n, frames, coils = 16, 3, 2
    truth = helpers.disc_cine(frames, n, n)
    acqs = helpers.cartesian_cine(truth, helpers.smooth_maps(coils, n, n), np.ones((frames, n), bool))
    noise = [helpers.make_acq((np.random.default_rng(0).standard_normal((coils, 64)) + 0j) * 1e-3,
                              flags=[ismrmrd.ACQ_IS_NOISE_MEASUREMENT])]
    pipeline = Pipeline.load("cartesian", {"method": TEST_METHOD, "device": "cpu", "calibration_width": "16"})
    images = list(pipeline.run(make_header(nx=n, ny=n, channels=coils, phases=frames), noise + acqs))
    assert [im.phase for im in images] == [0, 1, 2]
    assert all(im.matrix_size == (n, n, 1) for im in images)


def test_a_custom_config_file_with_one_gadget(tmp_path):
    path = tmp_path / "passthrough.xml"
    path.write_text(STREAM.format(external("gadgets.oversampling", "RemoveReadoutOversampling")))
    acq = helpers.make_acq(np.ones((2, 32)))
    (out,) = Pipeline.load(str(path)).run(make_header(nx=16, oversampling=2), [acq])
    assert out.number_of_samples == 16


def _nan_raw(tmp_path):
    """A raw file whose data would be refused (a NaN sample): an error about a setting proves the
    setting was checked before the data were read."""
    n, c = 8, 2
    nan = np.ones((c, n), np.complex64)
    nan[1, 3] = np.nan
    return write_raw(tmp_path / "nan.h5", make_header(nx=n, ny=n, channels=c),
                     [helpers.make_acq(np.ones((c, n)), line=i) for i in range(3)] + [helpers.make_acq(nan, line=3)])


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_replay_refuses_a_misspelt_set_before_reading_the_data(tmp_path, capsys):
    raw = _nan_raw(tmp_path)
    assert main(["replay", str(raw), "--set", "windw=3", "--no-progress", "-o", str(tmp_path / "out.h5")]) == 2
    assert _one_error_line(capsys) == ("gadgetron-inr: error: pipeline cartesian: no setting 'windw' "
                                       "(nearest: preview, preview_series_index, calibration_width)")
    assert not (tmp_path / "out.h5").exists()


def test_replay_refuses_an_unknown_xml_property_before_reading_the_data(tmp_path, capsys):
    config = tmp_path / "mine.xml"
    config.write_text(STREAM.format(external("gadgets.cine_reconstruction", "CineReconstruction",
                                             '<property name="outptu" value="complex"/>')))
    assert main(["replay", str(_nan_raw(tmp_path)), "--pipeline", str(config), "--no-progress",
                 "-o", str(tmp_path / "out.h5")]) == 2
    assert _one_error_line(capsys) == ("gadgetron-inr: error: pipeline mine: CineReconstruction: no setting 'outptu' "
                                       "(nearest: output)")


def test_replay_settings_file_errors_name_the_file(tmp_path, capsys):
    settings = tmp_path / "site.yaml"
    settings.write_text("method: cg-sense\ncalibration_widht: 12\n")
    assert main(["replay", str(_nan_raw(tmp_path)), "--settings", str(settings), "--no-progress",
                 "-o", str(tmp_path / "out.h5")]) == 2
    assert _one_error_line(capsys) == (f"gadgetron-inr: error: settings file '{settings}': no setting "
                                       "'calibration_widht' (nearest: calibration_width, calibration_as_data)")


def test_emulate_refuses_a_misspelt_set_before_reading_the_data_or_connecting(tmp_path, capsys):
    # Port 9 (discard) has no server here: a connection attempt would be the error instead.
    assert main(["emulate", str(_nan_raw(tmp_path)), "--port", "9", "--set", "windw=3",
                 "-o", str(tmp_path / "out.h5")]) == 2
    assert "no setting 'windw' (nearest: preview" in _one_error_line(capsys)


def test_emulate_writes_each_setting_into_the_node_that_declares_it():
    from xml.etree import ElementTree

    from pipelines.streaming.emulator import chain_text

    root = ElementTree.fromstring(chain_text("cartesian", {"method": "cg-sense", "preserve_scale": "false"}))
    nodes = {e.find("execute").get("target"): properties_from_config(e.find("configuration"))
             for e in root.iter("external")}
    assert nodes["NoisePrewhitening"] == {"waveforms": "drop", "preserve_scale": "false"}
    assert nodes["CineReconstruction"]["method"] == "cg-sense" and "preserve_scale" not in nodes["CineReconstruction"]


def test_serve_settings_file_is_checked_at_start_and_applied_before_a_clients_parameters(tmp_path, capsys):
    import json

    from pipelines.streaming import protocol
    from pipelines.streaming.server import Opening, Server

    settings = tmp_path / "site.yaml"
    settings.write_text("method: cg-sense\niteratons: 3\n")
    assert main(["serve", "--port", "0", "--settings", str(settings)]) == 2
    assert _one_error_line(capsys) == (
        f"gadgetron-inr: error: settings file '{settings}' (configuration cartesian.xml): no setting 'iteratons' "
        "(nearest: iterations)")
    server = Server(port=0, settings={"method": "cg-sense", "iterations": 3, "lam": 0.5},
                    settings_source="settings file site.yaml")
    try:
        opening = Opening(kind=protocol.CONFIG_FILE, config="cartesian",
                          texts=[json.dumps({"parameters": {"iterations": 5}})])
        props = server._pipeline(opening).nodes[-1].properties
    finally:
        server.stop()
    assert (props["method"], props["iterations"], props["lam"]) == ("cg-sense", "5", "0.5")


def test_replay_decodes_the_raw_file_once(small_raw, tmp_path, monkeypatch):
    import pipelines.files.ismrmrd_io as io

    decoded = []
    real = io._acquisition
    monkeypatch.setattr(io, "_acquisition", lambda *a: decoded.append(1) or real(*a))
    assert main(["replay", str(small_raw), "--method", TEST_METHOD, "--device", "cpu", "--no-progress",
                 "--set", "calibration_width=12", "-o", str(tmp_path / "out.h5")]) == 0
    # checked and reconstructed from the same decoded readouts: one decode per readout
    assert len(decoded) == io.open_raw(small_raw, check_data=False).count
