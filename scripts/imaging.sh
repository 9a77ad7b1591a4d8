#!/usr/bin/env bash
# Make sure what the imaging module needs from Debian is installed: Orthanc (a real DICOM server
# and archive) with its DICOMweb plugin, which the index reads through QIDO-RS, and Tesseract,
# which reads burned-in text in the pixels of de-identified images; and libturbojpeg0, which
# wsidicomizer needs to write DICOM-WSI from a slide (docs/adr/0029). Needs root and Debian's
# package mirror; does nothing when they are already there.
set -euo pipefail
if [ -x /usr/sbin/Orthanc ] && [ -f /usr/share/orthanc/plugins/libOrthancDicomWeb.so ] &&
  command -v tesseract >/dev/null 2>&1 && ldconfig -p | grep -q libturbojpeg; then
  exit 0
fi
echo "==> installing Debian's Orthanc and its DICOMweb plugin, Tesseract OCR and libturbojpeg0"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q orthanc orthanc-dicomweb \
  tesseract-ocr tesseract-ocr-eng libturbojpeg0
# the package starts a system-wide Orthanc where an init system runs; the tests start their own
$SUDO service orthanc stop >/dev/null 2>&1 || true
