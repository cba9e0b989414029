"""The files the commands read and write: ISMRMRD raw files (read, validated; simulated ones written),
ISMRMRD image files, DICOM, preview figures, raw folders as gen-inr training data, and the one way an
output file is written (``outputs``). ``validation`` holds the acquisition checks the stream hosts share."""
