"""Reading a table as its mapping says: CSV (the SDK's reader) or an ``.xlsx`` sheet (openpyxl).

Welsh Government census forms are Excel workbooks with title rows above the column names, and
councils export WCCIS reports to either format, so a sheet is read from its configured header
row, in openpyxl's read-only mode (rows stream; memory stays flat). A spreadsheet row has no
raw line to keep, so its raw text is the JSON of its cells by column — what quarantine keeps and
the cursor's digest reads, the same bytes whenever the same values are read. Excel stores every
number as a float and dates as date-times: a whole number reads as ``12``, not ``12.0``, and a
date-time at midnight as its date, so one mapping reads the CSV and the workbook alike.
"""

from __future__ import annotations

import json
import warnings
import xml.etree.ElementTree as ET
import zipfile
import zlib
from collections.abc import Iterator
from datetime import date, datetime, time
from typing import Any, BinaryIO, Final

from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from hub.connectors.sdk import InputError, Record, read_csv
from hub.connectors.tabular.mapping import TabularConfig

XLSX_MAGIC: Final = b"PK\x03\x04"  # an .xlsx is a zip file
XLSX_TYPE: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
XLS_MAGIC: Final = b"\xd0\xcf\x11\xe0"  # Excel 97-2003 (OLE2): not read
# What openpyxl raises on a damaged workbook (a corrupt zip member, broken sheet XML, a cell
# its descriptors refuse), as a mutation test of the golden forms found: each is the file's
# fault, so the file is refused whole with the reason, never a crash of the run.
DAMAGED: Final = (
    InvalidFileException,
    zipfile.BadZipFile,
    zlib.error,
    ET.ParseError,
    EOFError,
    OSError,
    KeyError,
    IndexError,
    ValueError,
    TypeError,
    AttributeError,
    NotImplementedError,
)


# What openpyxl warns, rather than raises, when it drops part of a workbook: a part whose
# relationships are broken, a sheet without its relationship id (the next sheet would be read
# as the first, or the configured one called missing).
BROKEN_PARTS: Final = (
    "contains invalid dependency definitions",
    "contains an invalid specification for",
)


def read_table(stream: BinaryIO, name: str, config: TabularConfig) -> Iterator[Record]:
    """The records of one file; :class:`InputError` if it is not the format or lacks a column
    the mapping reads (naming them, and the columns it has)."""
    kind = config.input.format
    if kind == "auto":
        start = stream.read(4)
        stream.seek(0)
        if start == XLS_MAGIC:
            raise InputError(f"{name}: an Excel 97-2003 workbook (.xls): save it as .xlsx or CSV")
        kind = "xlsx" if start == XLSX_MAGIC else "csv"
    if kind == "csv":
        return read_csv(
            stream, name, config.input.key, config.columns(), encoding=config.input.encoding
        )
    return _xlsx_records(stream, name, config)


def _xlsx_records(stream: BinaryIO, name: str, config: TabularConfig) -> Iterator[Record]:
    _check_unpacked_size(stream, name, config.input.max_unpacked_mib)
    try:
        with warnings.catch_warnings(record=True) as noticed:
            warnings.simplefilter("always")
            workbook = load_workbook(stream, read_only=True, data_only=True)
    except DAMAGED as error:
        raise InputError(f"{name}: not a readable .xlsx workbook: {_said(error)}") from error
    for notice in noticed:
        if any(broken in str(notice.message) for broken in BROKEN_PARTS):
            # openpyxl drops a part's broken relationships and reads on; the file is damaged
            # (its sheets may be missing from it), so it is refused whole, as for DAMAGED.
            workbook.close()
            raise InputError(f"{name}: not a readable .xlsx workbook: {notice.message}")
        warnings.warn_explicit(
            notice.message, notice.category, notice.filename, notice.lineno, source=notice.source
        )
    try:
        wanted = config.input.sheet
        if wanted is not None and wanted not in workbook.sheetnames:
            raise InputError(
                f"{name}: no sheet {wanted!r} (the workbook has {', '.join(workbook.sheetnames)})"
            )
        sheet = workbook[wanted] if wanted is not None else workbook.worksheets[0]
        title = sheet.title
        rows = _guarded(
            sheet.iter_rows(min_row=config.input.header_row, values_only=True), f"{name}!{title}"
        )
        header_cells = next(rows, None)
        if header_cells is None:
            raise InputError(f"{name}!{title}: no row {config.input.header_row} (the header)")
        header = [_text(cell) for cell in header_cells]
        _check_header(f"{name}!{title}", header, config)
        for number, cells in enumerate(rows, start=config.input.header_row + 1):
            values = [_text(cell) for cell in cells]
            if not any(values):
                continue  # blank row
            pairs = zip(header, values, strict=False)
            fields = {column: value for column, value in pairs if column}
            keys = [fields.get(column, "") for column in config.input.key]
            key = "|".join(keys) if all(keys) else f"row:{number}"
            raw = json.dumps(fields, sort_keys=True, ensure_ascii=False).encode()
            yield Record(f"{name}!{title}:{number}", key, raw, fields)
    finally:
        workbook.close()


def _check_unpacked_size(stream: BinaryIO, name: str, limit_mib: int) -> None:
    """Refuse a workbook that would unpack to more than the limit, before reading any of it:
    zipfile never inflates a member past the size the archive declares for it."""
    try:
        with zipfile.ZipFile(stream) as archive:  # leaves the caller's stream open
            unpacked = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise InputError(f"{name}: not a readable .xlsx workbook: {_said(error)}") from error
    finally:
        stream.seek(0)
    if unpacked > limit_mib * 2**20:
        raise InputError(
            f"{name}: the workbook unpacks to {unpacked / 2**20:,.0f} MiB, over the limit of "
            f"{limit_mib} MiB (input.max_unpacked_mib): export the sheet to CSV"
        )


def _guarded(rows: Iterator[tuple[Any, ...]], where: str) -> Iterator[tuple[Any, ...]]:
    """openpyxl's rows, a damaged sheet refused (rows stream: the damage may be far in)."""
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except DAMAGED as error:
            raise InputError(f"{where}: not a readable .xlsx sheet: {_said(error)}") from error
        yield row


def _said(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _check_header(where: str, header: list[str], config: TabularConfig) -> None:
    named = [column for column in header if column]
    repeated = sorted({column for column in named if named.count(column) > 1})
    if repeated:
        raise InputError(f"{where}: column(s) {', '.join(repeated)} appear twice in the header")
    missing = [column for column in config.columns() if column not in named]
    if missing:
        raise InputError(
            f"{where}: missing column(s) {', '.join(missing)}; the header has {', '.join(named)}"
        )


def _text(cell: object) -> str:
    """A cell as the text a CSV export of it would hold."""
    if cell is None:
        return ""
    if isinstance(cell, datetime):
        return cell.date().isoformat() if cell.time() == time(0) else cell.isoformat()
    if isinstance(cell, date):
        return cell.isoformat()
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    if isinstance(cell, bool):
        return "TRUE" if cell else "FALSE"
    return str(cell).strip()
