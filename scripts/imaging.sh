#!/usr/bin/env bash
# Make sure what the imaging module's tests need from Debian is installed: Orthanc (a real DICOM
# server and archive) with its DICOMweb plugin, which the index reads through QIDO-RS. Needs root
# and Debian's package mirror; does nothing when they are already there.
set -euo pipefail
if [ -x /usr/sbin/Orthanc ] && [ -f /usr/share/orthanc/plugins/libOrthancDicomWeb.so ]; then
  exit 0
fi
echo "==> installing Debian's Orthanc and its DICOMweb plugin for the imaging tests"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q orthanc orthanc-dicomweb
# the package starts a system-wide Orthanc where an init system runs; the tests start their own
$SUDO service orthanc stop >/dev/null 2>&1 || true
