"""The batched audit writer for reads: nothing submitted is lost, order is kept."""

from __future__ import annotations

from sqlalchemy import func, select

from callwarden.audit.models import AuditEvent
from callwarden.audit.service import AuditWriter


def test_flush_writes_everything_in_order(session_factory):
    writer = AuditWriter(session_factory, interval=0.01, max_batch=100)
    for i in range(1234):
        writer.submit(type="t", actor="a", actor_role="r", subject=f"s{i}", body={"i": i})
    writer.flush()
    with session_factory() as s:
        subjects = list(s.scalars(select(AuditEvent.subject).order_by(AuditEvent.id)))
    assert subjects == [f"s{i}" for i in range(1234)]
    writer.close()


def test_close_writes_the_queue(session_factory):
    writer = AuditWriter(session_factory, interval=5.0)
    for i in range(10):
        writer.submit(type="t", actor="a", actor_role="r", subject=str(i))
    writer.close()
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == 10


def test_a_failing_write_is_retried_not_dropped(session_factory):
    calls = {"n": 0}

    def flaky():
        calls["n"] += 1
        if calls["n"] <= 2:
            raise RuntimeError("database briefly unavailable")
        return session_factory()

    writer = AuditWriter(flaky, interval=0.01)
    writer.submit(type="t", actor="a", actor_role="r", subject="kept")
    writer.flush()
    with session_factory() as s:
        assert list(s.scalars(select(AuditEvent.subject))) == ["kept"]
    assert calls["n"] == 3
    writer.close()


def test_append_returns_the_committed_id_and_batches_concurrent_writers(session_factory):
    import threading

    writer = AuditWriter(session_factory, interval=0.01)
    ids: list[int] = []
    lock = threading.Lock()

    def work(k: int) -> None:
        for i in range(50):
            new_id = writer.append(type="t", actor=f"w{k}", actor_role="r", subject=str(i))
            with lock:
                ids.append(new_id)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with session_factory() as s:
        stored = dict(s.execute(select(AuditEvent.id, AuditEvent.actor)).all())
    assert sorted(ids) == sorted(stored) and len(ids) == 400  # every acknowledged id is there
    writer.close()


def test_append_async_resolves_each_task_with_its_id(session_factory):
    import asyncio

    writer = AuditWriter(session_factory, interval=0.01)

    async def run() -> list[int]:
        return await asyncio.gather(
            *(
                writer.append_async(type="t", actor="a", actor_role="r", subject=str(i))
                for i in range(300)
            )
        )

    ids = asyncio.run(run())
    with session_factory() as s:
        subjects = dict(s.execute(select(AuditEvent.id, AuditEvent.subject)).all())
    assert [subjects[i] for i in ids] == [str(i) for i in range(300)]
    writer.close()
