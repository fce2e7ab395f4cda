"""Qt table models over :class:`onion.gui.tables.Table` (computed on a worker thread).

Sorting and filtering never call ``data()`` per comparison: the model sorts itself by the
table's precomputed ranks (a permutation: putting rows in order is one pass, however
many rows), and the filter tests one lower-case string per row. A 10,000-host fleet
sorts and filters in milliseconds, where ``QSortFilterProxyModel``'s own sort would ask
Python for a value some 300,000 times.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QBrush, QColor

from onion.gui.tables import Mark, Table

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
KEY_ROLE = Qt.ItemDataRole.UserRole + 2

# Pale backgrounds that keep black text readable.
BACKGROUND = {Mark.DOWN: QColor("#f8d0d0"), Mark.STALE: QColor("#e6e6e6"),
              Mark.PROBLEM: QColor("#fdf0c8"), Mark.FIRING: QColor("#f8d0d0")}
FOREGROUND = {Mark.STALE: QColor("#555555")}

Index = QModelIndex | QPersistentModelIndex


class TableModel(QAbstractTableModel):
    def __init__(self, table: Table | None = None, parent: Any = None) -> None:
        super().__init__(parent)
        self.table = table or Table([])
        self.order: list[int] = list(range(self.table.rows))   # shown row -> table row
        self.sort_column = -1
        self.sort_order = Qt.SortOrder.AscendingOrder
        self._bg = {m: QBrush(c) for m, c in BACKGROUND.items()}
        self._fg = {m: QBrush(c) for m, c in FOREGROUND.items()}

    def set_table(self, table: Table) -> None:
        self.beginResetModel()
        self.table = table
        self.order = self._ordered(self.sort_column, self.sort_order)
        self.endResetModel()

    def _ordered(self, column: int, order: Qt.SortOrder) -> list[int]:
        n = self.table.rows
        if column < 0 or column >= len(self.table.columns):
            return list(range(n))
        out = [0] * n
        for row, rank in enumerate(self.table.ranks[column]):
            out[rank] = row
        if order == Qt.SortOrder.DescendingOrder:
            out.reverse()
        return out

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self.layoutAboutToBeChanged.emit()
        old = self.order
        self.sort_column, self.sort_order = column, order
        self.order = self._ordered(column, order)
        where = {row: i for i, row in enumerate(self.order)}
        persistent = self.persistentIndexList()
        if persistent:  # selections and the current cell follow their rows
            self.changePersistentIndexList(persistent, [
                self.index(where[old[p.row()]], p.column()) for p in persistent])
        self.layoutChanged.emit()

    def row_of(self, shown: int) -> int:
        return self.order[shown]

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else self.table.rows

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.table.columns)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        r, c = self.order[index.row()], index.column()
        t = self.table
        if role == Qt.ItemDataRole.DisplayRole:
            return t.cells[r][c]
        if role == SORT_ROLE:
            return t.ranks[c][r]
        if role == Qt.ItemDataRole.BackgroundRole:
            return self._bg.get(t.marks[r])
        if role == Qt.ItemDataRole.ForegroundRole:
            return self._fg.get(t.marks[r])
        if role == Qt.ItemDataRole.ToolTipRole:
            return t.tips[r] or t.cells[r][c]
        if role == KEY_ROLE:
            return t.keys[r]
        return None

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return self.table.columns[section] if section < len(self.table.columns) else None
        return section + 1


class FilterProxy(QSortFilterProxyModel):
    """A text found in any column (case-insensitive) keeps a row; sorting is the
    model's own (see the module's docstring)."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.needle = ""
        self.setDynamicSortFilter(False)

    def set_needle(self, text: str) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt 6.10 on; invalidateFilter before
            self.beginFilterChange()
            self.needle = text.strip().lower()
            self.endFilterChange()
        else:
            self.needle = text.strip().lower()
            self.invalidateFilter()

    def setFilterFixedString(self, pattern: str) -> None:
        self.set_needle(pattern)

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        if not self.needle:
            return True
        model = self.sourceModel()
        assert isinstance(model, TableModel)
        return self.needle in model.table.search[model.row_of(source_row)]

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        model = self.sourceModel()
        if isinstance(model, TableModel):
            model.sort(column, order)


__all__ = ["KEY_ROLE", "SORT_ROLE", "FilterProxy", "TableModel"]
