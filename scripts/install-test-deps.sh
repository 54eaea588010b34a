#!/bin/sh
# Test dependencies that come from the system package registry, not PyPI:
# Debian's chromium (driven by Playwright's Python package through executable_path — never
# `playwright install`, which downloads a browser) and CJK fonts, without which headless Chromium
# renders Chinese as boxes in screenshots. Books (chendian book build): the CJK fonts embedded in the PDF,
# pango for WeasyPrint, and epubcheck and poppler-utils (pdffonts, pdftotext) that the book tests check with.
# PostgreSQL's server binaries: tests/test_postgres.py starts a throwaway server of its own (nothing is configured).
set -eu
if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi "noto sans cjk" \
    || [ ! -f /usr/share/java/epubcheck.jar ] || ! command -v pdffonts >/dev/null 2>&1 \
    || ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
    $SUDO apt-get update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends chromium fonts-noto-cjk \
        libpango-1.0-0 libpangoft2-1.0-0 epubcheck poppler-utils postgresql
fi
