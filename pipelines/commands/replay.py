"""``gadgetron-inr replay``: stream a raw file through a reconstruction pipeline, write images.

The pipeline is a Gadgetron stream configuration run by the embedded host (``pipelines.streaming.host``);
by default ``cartesian`` or ``radial`` after the file's trajectory. ``--settings FILE.yaml``, then
``--set key=value``, ``--method``, ``--preset`` and ``--device`` override the settings of the node that
declares each key (``pipelines.streaming.host``); they are checked before the file's data are read, and the file
is decoded once.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import ismrmrd

from gadgets.base import GadgetError
from inr_core.progress import Progress
from pipelines.errors import UserError
from pipelines.files.outputs import check_output

log = logging.getLogger(__name__)


def add_arguments(parser):
    parser.add_argument("raw", help="ISMRMRD raw file (HDF5)")
    parser.add_argument("--method", help="reconstruction method (see `gadgetron-inr methods`)")
    parser.add_argument("--preset", help="named preset of the method")
    parser.add_argument("--pipeline", help="pipeline name (cartesian, radial) or a stream configuration .xml file; "
                                           "default: from the file's trajectory")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], help="compute device (default: auto)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="a setting of the chain or the method (repeatable; `gadgetron-inr methods --options`)")
    parser.add_argument("--settings", metavar="FILE.yaml",
                        help="settings from a YAML file (name: value); the command line overrides them")
    parser.add_argument("-o", "--output", required=True, help="output ISMRMRD image file (HDF5)")
    parser.add_argument("--preview", metavar="PNG", help="also write a preview figure")
    parser.add_argument("--dicom", metavar="DIR", help="also write the images as DICOM files to this new folder "
                                                       "(one MR image per frame and slice; docs/dicom.md)")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress report (a bar on a terminal, else a log line per stage)")
    parser.add_argument("--external-processes", action="store_true",
                        help="run each node as a `python -m gadgetron` child process over a loopback socket, "
                             "as Gadgetron does (default: in-process)")


def run(args) -> int:
    from pipelines.streaming.host import parse_overrides

    overrides = parse_overrides(args.overrides)
    for key in ("method", "preset", "device"):
        if getattr(args, key, None):
            overrides[key] = getattr(args, key)
    replay_file(args.raw, args.output, overrides, pipeline=args.pipeline, preview=args.preview,
                dicom=getattr(args, "dicom", None), settings_file=getattr(args, "settings", None),
                show_progress=not getattr(args, "no_progress", False),
                external=getattr(args, "external_processes", False))
    return 0


def replay_file(raw_path, output, properties: dict[str, str], pipeline: str | None = None, preview=None,
                show_progress: bool = True, external: bool = False, dicom=None, settings_file=None) -> int:
    """Reconstruct the raw file at ``raw_path`` through a chain and write its images to ``output``.

    ``pipeline``: a packaged chain name or an XML file (default: the trajectory's chain);
    ``settings_file`` (YAML), then ``properties`` override the chain's settings, checked before the data
    are read; ``preview``: also draw a PNG; ``dicom``: also write DICOM files to
    that folder (``pipelines.files.dicom``). Returns the image count.
    Expected failures raise ``UserError`` (one line, naming the file); nothing is left at ``output``.
    """
    from pipelines.files.ismrmrd_io import open_raw, write_images
    from pipelines.streaming.host import Pipeline, default_pipeline

    if Path(output).resolve() == Path(raw_path).resolve():
        raise UserError(f"the output {str(output)!r} is the raw input file: choose another name")
    check_output(output, "image file")  # before minutes of reconstruction, not after
    if preview:
        check_output(preview, "preview")
    if dicom:
        from pipelines.files.dicom import check_dicom_folder

        check_dicom_folder(dicom)
    raw = open_raw(raw_path, check_data=False)  # the header, for the default chain
    chain = Pipeline.load(pipeline or default_pipeline(raw.trajectory), properties, settings_file)
    raw.check_data(keep=True)  # decoded once: the chain takes these
    method = chain.properties.get("method", "?")
    log.info("%s: %d acquisitions, %s, pipeline %s, method %s", raw_path, raw.count, raw.trajectory,
             chain.name, method)

    # A bar on a terminal; in a file or pipe a line per stage (inr_core.progress).
    progress = Progress(f"replay {method}", total=raw.count, unit="readouts", enabled=show_progress)

    def counted(items):
        for item in items:
            progress.advance(1)
            yield item

    try:
        with progress:
            images = list(chain.run(raw.header, counted(raw.acquisitions()), progress, external=external))
    except GadgetError as exc:
        raise UserError(f"{raw_path}: {exc}") from None
    others = [item for item in images if not isinstance(item, ismrmrd.Image)]
    if others:  # e.g. a chain whose last node does not reconstruct
        kinds = ", ".join(sorted({type(item).__name__ for item in others}))
        raise UserError(f"{raw_path}: the chain's last node returned {len(others)} items that are not images "
                        f"({kinds}): pipeline {chain.name} does not end in a reconstruction")
    count = write_images(output, images, raw.header_xml)
    print(f"wrote {count} images ({method}) to {output}", file=sys.stderr)
    if preview:
        _preview(preview, output, raw_path, method)
    if dicom:
        _dicom(dicom, output)
    return count


def _preview(preview, output, raw_path, method: str) -> None:
    """Draw the preview; if that fails the run fails whole: no images left behind, one line."""
    from pipelines.files.ismrmrd_io import read_images, read_reference
    from pipelines.files.preview import write_preview

    try:
        write_preview(preview, read_images(output)[0].frames(), read_reference(raw_path), title=f"{method}: {raw_path}")
    except Exception as exc:
        Path(output).unlink(missing_ok=True)
        if isinstance(exc, UserError):
            raise
        raise UserError(f"preview {str(preview)!r} could not be drawn ({type(exc).__name__}: {exc}); "
                        f"no images written") from None


def _dicom(folder, output) -> None:
    """Write the DICOM files; if that fails the run fails whole, as for the preview: no images left."""
    from pipelines.files.dicom import export_dicom

    try:
        counts = export_dicom(output, folder)
    except BaseException:
        Path(output).unlink(missing_ok=True)
        raise
    print(f"wrote {sum(counts.values())} DICOM images in {len(counts)} series to {folder}", file=sys.stderr)
