"""``gadgetron-inr replay``: stream a raw file through a reconstruction pipeline, write images.

The pipeline is a Gadgetron stream configuration run by the embedded host (``pipelines.host``);
by default ``cartesian`` or ``radial`` after the file's trajectory. ``--method``, ``--preset``,
``--device`` and ``--set key=value`` override properties of the reconstruction node.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from gadgets.base import GadgetError
from pipelines.errors import UserError

log = logging.getLogger(__name__)


def add_arguments(parser):
    parser.add_argument("raw", help="ISMRMRD raw file (HDF5)")
    parser.add_argument("--method", help="reconstruction method (see `gadgetron-inr methods`)")
    parser.add_argument("--preset", help="named preset of the method")
    parser.add_argument("--pipeline", help="pipeline name (cartesian, radial) or a stream configuration .xml file; "
                                           "default: from the file's trajectory")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], help="compute device (default: auto)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a property of the reconstruction node (repeatable)")
    parser.add_argument("-o", "--output", required=True, help="output ISMRMRD image file (HDF5)")
    parser.add_argument("--preview", metavar="PNG", help="also write a preview figure")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--external-processes", action="store_true",
                        help="run each node as a `python -m gadgetron` child process over a loopback socket, "
                             "as Gadgetron does (default: in-process)")


def default_pipeline(trajectory: str) -> str:
    return "cartesian" if trajectory == "cartesian" else "radial"


def run(args) -> int:
    from pipelines.host import Pipeline, parse_overrides
    from pipelines.ismrmrd_io import open_raw, write_images

    if Path(args.output).resolve() == Path(args.raw).resolve():
        raise UserError(f"the output {args.output!r} is the raw input file: choose another name")
    raw = open_raw(args.raw)
    overrides = parse_overrides(args.overrides)
    for key in ("method", "preset", "device"):
        if getattr(args, key, None):
            overrides[key] = getattr(args, key)
    pipeline = Pipeline.load(args.pipeline or default_pipeline(raw.trajectory), overrides)
    method = pipeline.properties.get("method", "?")
    log.info("%s: %d acquisitions, %s, pipeline %s, method %s", args.raw, raw.count, raw.trajectory,
             pipeline.name, method)

    bar = tqdm(total=raw.count, unit="readout", desc=f"replay {method}", file=sys.stderr,
               disable=getattr(args, "no_progress", False), dynamic_ncols=True)

    def progress(done, total, message=""):
        bar.set_postfix_str(message or f"{done}/{total}", refresh=True)

    def counted(items):
        for item in items:
            bar.update(1)
            yield item

    try:
        with logging_redirect_tqdm():  # log lines go above the bar instead of breaking it
            images = list(pipeline.run(raw.header, counted(raw.acquisitions()), progress,
                                       external=getattr(args, "external_processes", False)))
    except GadgetError as exc:
        raise UserError(f"{args.raw}: {exc}") from None
    finally:
        bar.close()
    count = write_images(args.output, images, raw.header_xml)
    print(f"wrote {count} images ({method}) to {args.output}", file=sys.stderr)
    if args.preview:
        from pipelines.ismrmrd_io import read_images, read_reference
        from pipelines.preview import write_preview

        write_preview(args.preview, read_images(args.output)[0].frames(), read_reference(args.raw),
                      title=f"{method}: {args.raw}")
    return 0
