"""Gadget base: properties, the in-process chain, and the Gadgetron external-target path."""

import socket
import struct
import threading
from dataclasses import dataclass

import ismrmrd
import numpy as np
import pytest
from gadget_helpers import make_acq, make_header
from gadgetron.external import Connection

from gadgets.base import Chain, Gadget, GadgetError, NodeConfig, error_frame, properties_from_config


@dataclass
class TagConfig(NodeConfig):
    tag: str = ""


class Double(Gadget):
    def process(self, item):
        return (item, item)


class Hold(Gadget):
    """Holds everything until the end of the stream."""

    def configure(self):
        self.held = []

    def process(self, item):
        self.held.append(item)
        return ()

    def flush(self):
        return self.held


class Tag(Gadget):
    Config = TagConfig

    def process(self, item):
        return (f"{self.config.tag}{item}",)


class Fail(Gadget):
    def process(self, item):
        raise GadgetError("readout 0 is broken")


def test_properties_from_config_text_and_element():
    xml = '<configuration><property name="method" value="cg-sense"/><property name="x" value=" 3 "/></configuration>'
    assert properties_from_config(xml) == {"method": "cg-sense", "x": "3"}
    assert properties_from_config(None) == {}
    assert properties_from_config("<configuration/>") == {}


def test_chain_passes_items_in_order_and_flushes_held_items_through_later_stages():
    chain = Chain({"tag": "t"}, make_header(), stages=[Hold(), Double(), Tag()])
    assert list(chain.process(1)) == []
    assert list(chain.flush()) == ["t1", "t1"]


def test_stage_keeps_its_own_properties_over_the_chain_ones():
    chain = Chain({"tag": "chain-"}, make_header(), stages=[Tag({"tag": "own-"})])
    assert list(chain.stream([1])) == ["own-1"]


def _client_messages(header_xml: str, acqs, config: bytes):
    """Bytes a Gadgetron parent sends an external node: CONFIG, HEADER, acquisitions, CLOSE."""
    out = struct.pack("<HI", 2, len(config)) + config
    out += struct.pack("<HI", 3, len(header_xml)) + header_xml.encode()
    for acq in acqs:
        out += struct.pack("<H", 1008) + acq.to_bytes()
    return out + struct.pack("<H", 4)


def _run_handle(gadget, acqs, config=b"<configuration/>"):
    """Run gadget.handle over a socket pair as gadgetron's __main__ does; return what came back."""
    parent, child = socket.socketpair()
    parent.sendall(_client_messages(ismrmrd.xsd.ToXML(make_header()), acqs, config))
    result = {}

    def target():
        with Connection(child) as connection:
            result["ok"] = gadget.handle(connection)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout=20)
    assert not thread.is_alive()
    received = b""
    while chunk := parent.recv(65536):
        received += chunk
    parent.close()
    return result["ok"], received


@pytest.mark.timeout(30)
def test_handle_sends_outputs_then_close():
    acq = make_acq(np.ones((2, 8)))
    ok, received = _run_handle(Gadget(), [acq])
    assert ok
    assert struct.unpack("<H", received[:2])[0] == 1008
    echoed = ismrmrd.Acquisition.from_bytes(received[2:-2])
    np.testing.assert_array_equal(echoed.data, acq.data)
    assert struct.unpack("<H", received[-2:])[0] == 4  # CLOSE


@pytest.mark.timeout(30)
def test_handle_reports_an_error_message_naming_the_gadget_then_closes():
    ok, received = _run_handle(Fail(), [make_acq(np.ones((2, 8)))])
    assert not ok
    mid, length = struct.unpack("<HQ", received[:10])
    assert mid == 8
    text = received[10:10 + length].decode()
    assert text == "Fail: readout 0 is broken"
    assert "\n" not in text
    assert received[10 + length:] == struct.pack("<H", 4)


def test_error_frame_layout():
    frame = error_frame("x: bad")
    assert frame == struct.pack("<HQ", 8, 6) + b"x: bad"


@pytest.mark.timeout(30)
def test_handle_takes_properties_from_the_connection_configuration():
    class Check(Gadget):
        Config = TagConfig

        def configure(self):
            if self.config.tag != "x" or self.header is None:
                raise GadgetError("configuration not received")

    ok, received = _run_handle(Check(), [], b'<configuration><property name="tag" value="x"/></configuration>')
    assert ok and received == struct.pack("<H", 4)


@pytest.mark.timeout(30)
def test_handle_refuses_an_unknown_property_in_one_line_before_any_item():
    seen = []

    class Check(Tag):
        def process(self, item):
            seen.append(item)
            return ()

    ok, received = _run_handle(Check(), [make_acq(np.ones((2, 8)))],
                               b'<configuration><property name="tga" value="x"/></configuration>')
    assert not ok and not seen
    mid, length = struct.unpack("<HQ", received[:10])
    text = received[10:10 + length].decode()
    assert mid == 8 and "\n" not in text
    assert text == "Check: no setting 'tga' (nearest: tag; settings: tag, waveforms)"


def test_settings_are_typed_and_checked_where_they_enter():
    @dataclass
    class Config(NodeConfig):
        on: bool = False
        count: int = 1

    class Typed(Gadget):
        pass

    Typed.Config = Config
    assert Typed({"on": "yes", "count": "3"}, make_header()).config == Config(on=True, count=3)
    assert Typed({"on": True, "count": 3.0}, make_header()).config == Config(on=True, count=3)  # JSON values
    for bad, message in [({"on": "maybe"}, "invalid value 'maybe' for Typed.on (expected bool)"),
                         ({"count": "-1"}, "invalid value '-1' for Typed.count (must be a finite number >= 0)"),
                         ({"count": True}, "invalid value True for Typed.count (expected int)"),
                         ({"waveforms": "keep"},
                          "invalid value 'keep' for Typed.waveforms (expected one of pass, drop)")]:
        with pytest.raises(GadgetError) as err:
            Typed(bad, make_header())
        assert str(err.value) == message


def test_chain_routes_each_key_to_the_stage_that_declares_it_and_refuses_the_rest():
    class Other(Gadget):
        @dataclass
        class Config(NodeConfig):
            width: int = 2

    tag, other = Tag(), Other()
    chain = Chain({"tag": "a-", "width": "5", "waveforms": "drop"}, make_header(), stages=[tag, other])
    assert (tag.config.tag, other.config.width) == ("a-", 5)
    assert chain.config.waveforms == "drop" and tag.config.waveforms == "pass"
    with pytest.raises(GadgetError, match=r"no setting 'widht' \(nearest: width"):
        Chain({"widht": "5"}, make_header(), stages=[Tag(), Other()])
