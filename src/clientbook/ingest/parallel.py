"""Parsing chunks of rows in worker processes while the importing process
writes the chunks before them.

Parsing (normalising, validating, splitting addresses, pinyin) is pure
Python and was half of an import's time, so it runs in a pool of forked
processes. Writing stays in the importing process, chunk after chunk in the
file's order, each in its own transaction: what a chunk commits, and so
where a stopped job resumes, is the same as without workers. Workers only
ever parse ahead a few chunks (`AHEAD` per worker), which bounds memory.
"""

import contextlib
import ctypes
import gc
import itertools
import multiprocessing
import os
import queue
import signal
import threading
from collections.abc import Callable, Iterable, Iterator

from django.conf import settings
from django.db import connections
from django.utils.translation import gettext as _

AHEAD = 1  # chunks in flight per worker (of 5,000 rows, 2 were no faster: 46 MB more)
# The cycle collector during a big import: young objects every 100 chunks,
# all every 500 (see collections_between_chunks; a full collection walks
# every live object). Every 10 chunks, young ones cost 0.6 s of 200,000
# rows and found 6 unreachable objects in all.
COLLECTIONS = {500: 2, 100: 1}
MIN_ROWS = 5000  # smaller files: starting workers costs more than it saves
# Seconds a chunk may take to come back from a worker. One parses in well
# under a second; a worker that stops answering (seen once, cause unknown)
# would otherwise hold the import, and a test run, forever.
WAIT = 300
# The workers' niceness. They parse ahead of the importing thread, which
# takes turns with the database server: that pair is what an import waits
# for, and a worker that held a core the server wanted delayed both (1M
# rows: 53.6 → 51.0 s, means of three and four runs; bench/README.md,
# "Thirteenth session"). A niced worker also leaves the cores to the web
# server's requests first.
NICE = 19

_parse: Callable | None = None  # the worker's parser, set when it starts
_inherited: list = []  # database connections the fork copied; see _start
_quiet = 0  # imports running with the cycle collector off
_parsed = 0  # chunks a worker parsed


def workers(rows: int) -> int:
    """How many parsing processes an import of about `rows` rows uses (0:
    parse in the importing process)."""
    default = int(os.environ.get("CLIENTBOOK_IMPORT_WORKERS", os.cpu_count() or 1))
    count = settings.CLIENTBOOK.get("IMPORT_WORKERS", default)
    # Files a web request imports itself never fork: a threaded web server
    # is no process to fork from.
    return count if count > 1 and is_big(rows) else 0


def is_big(rows: int) -> bool:
    """Whether an import of about `rows` rows is too big for a web request
    to do itself (and so runs where worker processes can be forked)."""
    from clientbook.ingest.launch import sync_row_limit

    return rows > max(MIN_ROWS, sync_row_limit())


@contextlib.contextmanager
def collections_between_chunks(rows: int) -> Iterator[Callable[[], None]]:
    """Python's cycle collector, run between chunks rather than every 700
    allocations: an importer holding chunks of records spent a quarter of
    its time in it, walking the same live objects again and again
    (profiled: 55 → 41 µs a row). Records hold no cycles, so freeing the
    few cyclic leftovers every few chunks is enough (`COLLECTIONS`; after
    every chunk it was still 7% of the importer's time, walking the chunks
    parsed ahead). Yields what to call after each chunk. Only for files too
    big for a web request: the collector's switch is the whole process's,
    threads of a web server included."""
    global _quiet
    if not is_big(rows):
        yield lambda: None
        return
    chunks = itertools.count(1)

    def collect() -> None:
        _collect(next(chunks))

    enabled = gc.isenabled()
    _quiet += 1  # the outermost import turns the collector back on
    gc.disable()
    try:
        yield collect
    finally:
        _quiet -= 1
        if enabled and not _quiet:
            gc.enable()


def _collect(chunk: int) -> None:
    for every, generation in COLLECTIONS.items():
        if chunk % every == 0:
            gc.collect(generation)
            return


def parse_ahead(
    parse: Callable[[list], list], chunks: Iterable[list], *, processes: int
) -> Iterator[tuple[list, list]]:
    """(chunk, parsed chunk) in the order of `chunks`. The chunks are read
    and handed to the workers by a thread of their own (`_feed`): reading a
    file's rows was an eighth of the importing thread's time, which it now
    spends while that thread waits for the database."""
    if processes < 2:
        yield from ((chunk, parse(chunk)) for chunk in chunks)
        return
    context = multiprocessing.get_context("fork")  # workers inherit the parser
    start = (parse, os.getpid())
    # Forked with the stop signals held back, each worker sets them to end it
    # before it lets them in (`_start`): one that came before would have met
    # the importer's handler.
    held = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        pool = context.Pool(processes, initializer=_start, initargs=start)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
    with pool:
        # Chunks in flight: those queued, and the one read and waiting.
        ahead: queue.Queue = queue.Queue(maxsize=max(processes * AHEAD - 1, 1))
        stop = threading.Event()
        feeder = threading.Thread(
            target=_feed, args=(pool, chunks, ahead, stop), name=READER, daemon=True
        )
        feeder.start()
        try:
            while (item := ahead.get()) is not _END:
                if isinstance(item, BaseException):
                    raise item
                yield _done(*item)
        finally:
            stop.set()
            feeder.join()


_END = object()  # the last chunk was fed
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)
READER = "clientbook-import-reader"  # the thread of `_feed`


def _feed(pool, chunks: Iterable[list], ahead: queue.Queue, stop) -> None:
    """Reads chunks and starts their parsing, as many ahead as `ahead`
    holds; ends with `_END`, or with what went wrong reading."""
    try:
        for chunk in chunks:
            if not _put(ahead, (chunk, pool.apply_async(_run, (chunk,))), stop):
                return
        last = _END
    except BaseException as exc:  # raised again in the importing thread
        last = exc
    _put(ahead, last, stop)


def _put(ahead: queue.Queue, item, stop) -> bool:
    """Queues `item` unless the importer stopped taking chunks."""
    while not stop.is_set():
        with contextlib.suppress(queue.Full):
            ahead.put(item, timeout=0.1)
            return True
    return False


def _done(chunk: list, result) -> tuple[list, list]:
    try:
        return chunk, result.get(timeout=WAIT)
    except multiprocessing.TimeoutError:
        raise RuntimeError(
            _("a parsing worker did not answer in %(seconds)s s; run the job again")
            % {"seconds": WAIT}
        ) from None


def _start(parse: Callable, parent: int) -> None:
    global _parse
    _parse = parse
    _die_with_parent(parent)
    # The fork copied the importer's signal handlers too: in a task worker
    # (django-tasks-db's db_worker) SIGTERM only asks for a graceful stop,
    # so a worker the pool ends with SIGTERM lived on, and the pool waited
    # for it for ever (seen in the test suite: a worker blocked on the
    # queue's lock, which the ending pool holds). A parsing worker has
    # nothing to stop gracefully.
    for number in _STOP_SIGNALS:
        signal.signal(number, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    # As in the importer (collections_between_chunks); freezing what the
    # fork inherited also keeps the collector from copying its pages.
    gc.freeze()
    gc.disable()
    os.nice(NICE)
    # The fork copied the importer's open database connections. Closing one
    # here would end the importer's session, so they are put aside unused
    # (workers never query) and a query, if any, opens its own connection.
    for conn in connections.all(initialized_only=True):
        _inherited.append(conn.connection)
        conn.connection = None


def _die_with_parent(parent: int) -> None:
    """A killed importer (even kill -9) takes its workers with it (Linux)."""
    with contextlib.suppress(OSError, AttributeError):  # not Linux
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # it died before the line above
        os._exit(0)


def _run(chunk: list) -> list:
    global _parsed
    _parsed += 1
    _collect(_parsed)
    return _parse(chunk)
