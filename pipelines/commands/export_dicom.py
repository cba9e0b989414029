"""``gadgetron-inr export-dicom IMAGES.h5 DIR``: an ISMRMRD image file as DICOM MR images, one per frame
and slice (``pipelines.files.dicom``; the conventions are in ``docs/dicom.md``)."""

from __future__ import annotations

import sys

from pipelines.files.dicom import export_dicom


def add_arguments(parser):
    parser.add_argument("images", help="ISMRMRD image file (written by replay, emulate or a Gadgetron client)")
    parser.add_argument("folder", help="output folder for the DICOM files (must not exist, or be empty)")
    parser.add_argument("--raw", metavar="RAW.h5",
                        help="take the ISMRMRD header (patient, study, protocol) from this raw file, for image "
                             "files without one (gadgetron_ismrmrd_client writes none)")


def run(args) -> int:
    counts = export_dicom(args.images, args.folder, raw=args.raw)
    print(f"wrote {sum(counts.values())} DICOM images in {len(counts)} series to {args.folder}", file=sys.stderr)
    return 0
