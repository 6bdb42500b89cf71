"""The two ways services reach the database: a read transaction and a write transaction.

:func:`mcp_agent_mail.db.engine.run_read` hands its work a :class:`ReadTransaction`,
:func:`mcp_agent_mail.db.engine.run_write` a :class:`WriteTransaction`. Both are small
structural protocols: a unit of work may await only their ``execute``, ``scalar`` and
``scalars``. Anything else it needs (files, the network, a model) is awaited before the
transaction begins or after it ends, so a transaction never holds the database while it
waits on something else.

:class:`ThreadTransaction` implements both over a synchronous connection that a worker
thread holds for the whole transaction; an SQLAlchemy ``AsyncSession`` also fits both
protocols, which lets scripts and tests pass one to a service helper.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, TypeVar, TypeVarTuple, overload

from sqlalchemy import Connection

if TYPE_CHECKING:
    from sqlalchemy.engine import Result, ScalarResult
    from sqlalchemy.engine.interfaces import _CoreAnyExecuteParams
    from sqlalchemy.sql.base import Executable
    from sqlalchemy.sql.selectable import TypedReturnsRows
    from sqlalchemy.util.typing import TupleAny

_Ts = TypeVarTuple("_Ts")
_T = TypeVar("_T")


class ReadTransaction(Protocol):
    """One open read transaction (one snapshot): run statements on it and await their results."""

    @overload
    async def execute(
        self, statement: TypedReturnsRows[*_Ts], params: _CoreAnyExecuteParams | None = None
    ) -> Result[*_Ts]: ...
    @overload
    async def execute(
        self, statement: Executable, params: _CoreAnyExecuteParams | None = None
    ) -> Result[*TupleAny]: ...
    async def execute(self, statement: Executable, params: _CoreAnyExecuteParams | None = None) -> Result[*TupleAny]:
        """Execute a statement and return its result."""

    @overload
    async def scalar(
        self, statement: TypedReturnsRows[_T], params: _CoreAnyExecuteParams | None = None
    ) -> _T | None: ...
    @overload
    async def scalar(self, statement: Executable, params: _CoreAnyExecuteParams | None = None) -> Any: ...
    async def scalar(self, statement: Executable, params: _CoreAnyExecuteParams | None = None) -> Any:
        """Execute a statement and return the first column of its first row (None when there is none)."""

    @overload
    async def scalars(
        self, statement: TypedReturnsRows[_T], params: _CoreAnyExecuteParams | None = None
    ) -> ScalarResult[_T]: ...
    @overload
    async def scalars(
        self, statement: Executable, params: _CoreAnyExecuteParams | None = None
    ) -> ScalarResult[Any]: ...
    async def scalars(self, statement: Executable, params: _CoreAnyExecuteParams | None = None) -> ScalarResult[Any]:
        """Execute a statement and return the first column of every row."""


class WriteTransaction(ReadTransaction, Protocol):
    """One open write transaction, holding the database's write lock: its statements may change rows."""


class ThreadTransaction:
    """A transaction on a synchronous connection held by a worker thread: every await completes at once.

    It serves both :class:`ReadTransaction` and :class:`WriteTransaction`; which one a unit of
    work gets depends on the connection (``run_read`` or ``run_write``) it wraps.
    """

    def __init__(self, conn: Connection, *, read_only: bool = False) -> None:
        self._conn = conn
        self.read_only = read_only
        """True for ``run_read``'s transactions: nothing in them changes rows."""
        self.changes = 0
        """How many statements that may have changed rows ran (anything but a plain SELECT)."""

    @property
    def per_statement(self) -> bool:
        """Tell whether each statement commits on its own (a read without a snapshot on a database server)."""
        return self._conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT"

    async def execute(self, statement: Any, params: Any = None) -> Any:
        """Execute a statement on the connection and return its result."""
        return self._run(statement, params)

    async def scalar(self, statement: Any, params: Any = None) -> Any:
        """Execute a statement and return the first column of its first row."""
        return self._run(statement, params).scalar()

    async def scalars(self, statement: Any, params: Any = None) -> Any:
        """Execute a statement and return its first column."""
        return self._run(statement, params).scalars()

    def _run(self, statement: Any, params: Any) -> Any:
        result = self._conn.execute(statement, params)
        if not self.read_only and result.context.statement.lstrip()[:6].upper() != "SELECT":
            self.changes += 1  # INSERT, UPDATE, DELETE, or a WITH that may hold any of them
        return result


__all__ = ["ReadTransaction", "ThreadTransaction", "WriteTransaction"]
