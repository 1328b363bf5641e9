"""Background jobs on dramatiq with visible progress.

A plugin declares :class:`~musicconnect.contracts.JobSpec` objects through ``register_jobs``; the
core binds each to this platform's broker as actor ``<plugin>.<name>`` on queue ``mc.<plugin>``.
``enqueue`` writes a ``jobs`` row (state, progress, attempts) and sends the message once the
caller's transaction commits. Embedded default: dramatiq's in-memory broker and an in-process
worker; queued work is re-sent from the ``jobs`` table at start-up, so a restart loses nothing.
With ``MC_REDIS_URL``: the Redis broker and separate ``musicconnect worker`` processes.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

import dramatiq
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from . import errorreporting, metrics, tracing
from .contracts import JobSpec
from .db import on_commit
from .errors import MusicConnectError
from .logs import CONTEXT as LOG_CONTEXT
from .models import Job

if TYPE_CHECKING:
    from .platform import Platform

log = logging.getLogger("musicconnect.jobs")


class JobError(MusicConnectError):
    pass


class PermanentJobError(JobError):
    """Raise from a job to fail it at once, without retries (bad input, not a passing fault)."""


class JobContext:
    """Handed to a job function: who it is, and how to report progress."""

    def __init__(self, platform: "Platform", job_id: uuid.UUID, attempt: int, args: dict[str, Any]):
        self.platform = platform
        self.job_id = job_id
        self.attempt = attempt
        self.args = args
        self._last = 0.0

    def progress(self, fraction: float, message: str | None = None, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < 0.5 and fraction < 1.0:
            return
        self._last = now
        with self.platform.db.session() as s:
            job = s.get(Job, self.job_id)
            if job is not None:
                job.progress = max(0.0, min(1.0, float(fraction)))
                job.updated_at = self.platform.clock.now()  # the lease heartbeat, on the platform clock
                if message is not None:
                    job.message = message


_current = threading.local()


class _MessageContext(dramatiq.Middleware):
    """Hands the message being processed to :meth:`Jobs._run` (its trace parent, its age)."""

    def before_process_message(self, broker, message):
        _current.message = message

    def after_process_message(self, broker, message, *, result=None, exception=None):
        _current.message = None

    after_skip_message = after_process_message


class Jobs:
    def __init__(self, platform: "Platform"):
        self.platform = platform
        url = platform.settings.redis_url
        if url:
            from dramatiq.brokers.redis import RedisBroker

            st = platform.settings
            self.broker: dramatiq.Broker = RedisBroker(url=url, heartbeat_timeout=st.redis_heartbeat_timeout_ms,
                                                       maintenance_chance=st.redis_maintenance_chance)
            self.embedded = False
        else:
            from dramatiq.brokers.stub import StubBroker

            self.broker = StubBroker()
            self.embedded = True
        self.broker.add_middleware(_MessageContext())
        self.actors: dict[str, dramatiq.Actor] = {}
        self.specs: dict[str, JobSpec] = {}
        self._worker: dramatiq.Worker | None = None
        self._lock = threading.Lock()
        self._held: set[uuid.UUID] = set()  # jobs this process is running (their lease is renewed)
        self._held_lock = threading.Lock()
        metrics.watch_backlog(self)  # musicconnect_jobs_backlog reads this broker at scrape

    # ---------------------------------------------------------------- declaration
    def register(self, plugin: str, spec: JobSpec) -> dramatiq.Actor:
        name = f"{plugin}.{spec.name}"
        if name in self.actors:
            return self.actors[name]
        jobs = self

        def run(job_id: str) -> None:
            jobs._run(name, uuid.UUID(job_id))

        run.__name__ = name.replace(".", "__")
        actor = dramatiq.actor(run, actor_name=name, queue_name=f"mc.{plugin}", broker=self.broker,
                               max_retries=spec.max_retries, time_limit=spec.time_limit_ms,
                               min_backoff=spec.min_backoff_ms, max_backoff=max(spec.min_backoff_ms, 60_000),
                               throws=(PermanentJobError,))
        self.actors[name] = actor
        self.specs[name] = spec
        return actor

    def register_all(self) -> None:
        for plugin, spec in self.platform.plugins.collect("register_jobs", platform=self.platform):
            if isinstance(spec, JobSpec):
                self.register(plugin, spec)
            else:
                log.error("plugin %s returned %r from register_jobs, not a JobSpec", plugin, spec)

    # ---------------------------------------------------------------- enqueue
    def enqueue(self, actor: str, *, session: Session | None = None, subject: tuple[str, Any] | None = None,
                owner_id: uuid.UUID | None = None, **kwargs: Any) -> uuid.UUID:
        """Record a job and send it once ``session`` commits (at once when no session is given)."""
        if actor not in self.actors:
            raise JobError(f"no job named {actor!r} (is its plugin enabled?)")
        job = Job(id=uuid.uuid4(), actor=actor, state="queued", args=kwargs, owner_id=owner_id,
                  subject_type=subject[0] if subject else None,
                  subject_id=str(subject[1]) if subject else None,
                  created_at=self.platform.clock.now(), updated_at=self.platform.clock.now())
        trace = tracing.inject()  # the enqueuing request's span: the job's span is its child
        if session is None:
            with self.platform.db.session() as s:
                s.add(job)
            self._send(actor, job.id, trace)
        else:
            session.add(job)
            on_commit(session, lambda: self._send(actor, job.id, trace))
        return job.id

    def _send(self, actor: str, job_id: uuid.UUID, trace: dict | None = None) -> None:
        if trace:  # W3C trace context rides in the message options (no schema change)
            self.actors[actor].send_with_options(args=(str(job_id),), mc_trace=trace)
        else:
            self.actors[actor].send(str(job_id))
        metrics.JOBS_ENQUEUED.labels(actor).inc()

    # ---------------------------------------------------------------- execution
    def _take(self, job_id: uuid.UUID) -> tuple[int, dict] | float | None:
        """Atomically take a queued job, or one whose runner stopped reporting for longer than the
        lease (its worker died and Redis re-queued the message). Returns ``(attempt, args)``;
        the seconds until the lease lapses when it is running and fresh; ``None`` when the job
        is gone or finished."""
        from datetime import timedelta

        now = self.platform.clock.now()
        lease = self.platform.settings.job_lease_seconds
        stale = now - timedelta(seconds=lease)
        with self.platform.db.session() as s:
            claimed = s.execute(update(Job).where(
                Job.id == job_id, or_(Job.state == "queued", and_(Job.state == "running", Job.updated_at < stale)))
                .values(state="running", attempts=Job.attempts + 1, message=None, updated_at=now)).rowcount
            job = s.get(Job, job_id)
            if job is None or job.state in ("succeeded", "failed"):
                return None
            if not claimed:
                return max(0.5, lease - (now - job.updated_at).total_seconds())
            return job.attempts, dict(job.args)

    def _run(self, name: str, job_id: uuid.UUID) -> None:
        from .db import begin_unit

        begin_unit(f"job {name}")  # each job counts its pooled connections like a request
        spec = self.specs[name]
        message = getattr(_current, "message", None)
        options = message.options if message is not None else {}
        claim = self._take(job_id)
        if claim is None:
            return  # deleted or finished: a duplicate delivery
        if isinstance(claim, float):
            # running elsewhere, or its worker died moments ago: look again once the lease lapses
            trace = {"mc_trace": options["mc_trace"]} if options.get("mc_trace") else {}
            self.actors[name].send_with_options(args=(str(job_id),), delay=int(claim * 1000) + 250, **trace)
            return
        attempt, args = claim
        with self._held_lock:
            self._held.add(job_id)
        if attempt == 1 and message is not None and message.message_timestamp:
            metrics.JOB_WAIT.labels(name).observe(max(0.0, time.time() - message.message_timestamp / 1000))
        ctx = JobContext(self.platform, job_id, attempt, args)
        token = LOG_CONTEXT.set({"job_id": str(job_id), "actor": name})
        running = metrics.JOBS_RUNNING.labels(name)
        running.inc()
        start = time.perf_counter()
        outcome = "failed"
        try:
            with tracing.span(f"job {name}", parent=options.get("mc_trace"), kind="consumer",
                              **{"musicconnect.job.id": str(job_id), "musicconnect.job.actor": name,
                                 "musicconnect.job.attempt": attempt}):
                try:
                    result = spec.fn(ctx, **args)
                except PermanentJobError as exc:
                    self._finish(job_id, attempt, "failed", message=str(exc))
                    errorreporting.capture_exception(exc, job_actor=name, job_id=job_id, job_outcome="failed")
                    raise
                except Exception as exc:
                    final = attempt > spec.max_retries
                    outcome = "failed" if final else "retried"
                    self._finish(job_id, attempt, "failed" if final else "queued",
                                 message=f"{'failed' if final else 'will retry'}: {type(exc).__name__}: {exc}")
                    errorreporting.capture_exception(exc, level="error" if final else "warning", job_actor=name,
                                                     job_id=job_id, job_outcome=outcome, job_attempt=attempt)
                    raise
                self._finish(job_id, attempt, "succeeded", result=result if isinstance(result, dict) else None)
                outcome = "succeeded"
        finally:
            with self._held_lock:
                self._held.discard(job_id)
            running.dec()
            metrics.JOB_SECONDS.labels(name).observe(time.perf_counter() - start)
            metrics.JOBS_FINISHED.labels(name, outcome).inc()
            LOG_CONTEXT.reset(token)

    def _finish(self, job_id: uuid.UUID, attempt: int, state: str, *, message: str | None = None,
                result=None) -> None:
        """Record how ``attempt`` ended — unless another attempt took the job over meanwhile (this
        runner was presumed dead): the newer attempt owns the row."""
        with self.platform.db.session() as s:
            job = s.get(Job, job_id)
            if job is None:
                return
            if job.attempts != attempt:
                log.warning("job %s attempt %d ended (%s) after attempt %d took it over; not recorded",
                            job_id, attempt, state, job.attempts)
                return
            job.state = state
            job.message = message
            job.updated_at = self.platform.clock.now()
            if state == "succeeded":
                job.progress = 1.0
                job.result = result

    def heartbeat(self) -> int:
        """Renew the lease of every job this process is running, whether or not the job reports
        progress: a running row goes stale only when its process is gone. Returns how many."""
        with self._held_lock:
            held = list(self._held)
        if not held:
            return 0
        with self.platform.db.session() as s:
            return s.execute(update(Job).where(Job.id.in_(held), Job.state == "running")
                             .values(updated_at=self.platform.clock.now())).rowcount

    def _heartbeat_loop(self, stop: threading.Event) -> None:
        every = max(1.0, self.platform.settings.job_lease_seconds / 3)
        while not stop.wait(every):
            try:
                self.heartbeat()
            except Exception:
                log.exception("renewing running jobs' leases failed")

    # ---------------------------------------------------------------- schedules
    def run_schedules(self) -> list[uuid.UUID]:
        """Enqueue every scheduled job whose current period has not run yet (once platform-wide:
        a Redis claim across processes, and the jobs table)."""
        now = self.platform.clock.now().timestamp()
        queued = []
        for name, spec in self.specs.items():
            if not spec.every_seconds:
                continue
            period = int(now // spec.every_seconds)
            subject = ("schedule", f"{name}:{period}")
            if not self.embedded and not self._claim(subject[1], spec.every_seconds):
                continue
            with self.platform.db.session() as s:
                seen = s.scalar(select(Job.id).where(Job.subject_type == "schedule", Job.subject_id == subject[1]))
            if seen is None:
                queued.append(self.enqueue(name, subject=subject))
        return queued

    def _claim(self, key: str, ttl: int) -> bool:
        import redis

        client = redis.Redis.from_url(self.platform.settings.redis_url)
        try:
            return bool(client.set(f"mc:schedule:{key}", "1", nx=True, ex=max(60, ttl * 2)))
        finally:
            client.close()

    def _schedule_loop(self, stop: threading.Event) -> None:
        while not stop.wait(30):
            try:
                self.run_schedules()
            except Exception:
                log.exception("scheduling failed")

    # ---------------------------------------------------------------- lost messages
    def resend_stale(self, limit: int = 500) -> int:
        """Send again every job whose broker message may be lost: queued and untouched for
        ``job_resend_seconds`` (Redis was down when it was enqueued, or restarted without
        persistence), or running and silent for that long and past its lease (its worker died and
        the message went with Redis). Each row is claimed (its ``updated_at`` moved) before it is
        sent, so several workers sweeping at once send it once; a delivery that finds the job
        running or finished does nothing (see ``_take``). Returns how many were sent."""
        from datetime import timedelta

        st = self.platform.settings
        now = self.platform.clock.now()
        queued_cut = now - timedelta(seconds=st.job_resend_seconds)
        running_cut = now - timedelta(seconds=max(st.job_resend_seconds, st.job_lease_seconds))
        with self.platform.db.session() as s:
            rows = s.execute(select(Job.id, Job.actor, Job.state, Job.updated_at).where(or_(
                and_(Job.state == "queued", Job.updated_at < queued_cut),
                and_(Job.state == "running", Job.updated_at < running_cut))).limit(limit)).all()
        sent = 0
        with self._held_lock:
            held = set(self._held)
        for job_id, actor, state, at in rows:
            if actor not in self.actors or job_id in held:  # running here: alive, whatever its row says
                continue
            with self.platform.db.session() as s:
                won = s.execute(update(Job).where(Job.id == job_id, Job.state == state, Job.updated_at == at)
                                .values(state="queued", updated_at=now)).rowcount
            if won:
                self._send(actor, job_id)
                sent += 1
        if sent:
            log.warning("re-sent %d jobs whose broker message was lost", sent)
        return sent

    def _resend_loop(self, stop: threading.Event) -> None:
        every = max(1.0, min(60.0, self.platform.settings.job_resend_seconds / 3))
        while not stop.wait(every):
            try:
                self.resend_stale()
            except Exception:
                log.exception("re-sending lost jobs failed")

    # ---------------------------------------------------------------- workers
    def start_worker(self, threads: int | None = None) -> dramatiq.Worker:
        """Start consuming in this process (embedded default, tests, ``musicconnect worker``)."""
        with self._lock:
            if self._worker is None:
                self._worker = dramatiq.Worker(self.broker, worker_threads=threads or self.platform.settings.worker_threads,
                                               worker_timeout=100)
                self._worker.start()
                self._stop_heartbeat = threading.Event()
                threading.Thread(target=self._heartbeat_loop, args=(self._stop_heartbeat,), daemon=True,
                                 name="mc-job-leases").start()
                if self.embedded:
                    self.recover()
                else:  # Redis may lose messages; the jobs table does not
                    self._stop_resend = threading.Event()
                    threading.Thread(target=self._resend_loop, args=(self._stop_resend,), daemon=True,
                                     name="mc-resend").start()
                if any(s.every_seconds for s in self.specs.values()):
                    self._stop_schedules = threading.Event()
                    threading.Thread(target=self._schedule_loop, args=(self._stop_schedules,), daemon=True,
                                     name="mc-schedules").start()
            return self._worker

    def recover(self) -> int:
        """Re-send every unfinished job (embedded broker: messages live only in memory). At start-up
        nothing runs yet in this process, so ``running`` rows are leftovers of a stopped one."""
        with self.platform.db.session() as s:
            s.execute(update(Job).where(Job.state == "running").values(state="queued"))
            rows = s.execute(select(Job.id, Job.actor).where(Job.state == "queued")).all()
        n = 0
        for job_id, actor in rows:
            if actor in self.actors:
                self._send(actor, job_id)
                n += 1
        if n:
            log.info("re-sent %d unfinished jobs", n)
        return n

    def wait_idle(self, timeout: float = 60.0, interval: float = 0.05) -> None:
        """Block until no job is queued or running (any broker; tests, demo seed, imports)."""
        from sqlalchemy import func

        deadline = time.monotonic() + timeout
        while True:
            with self.platform.db.session() as s:
                busy = s.scalar(select(func.count()).select_from(Job).where(Job.state.in_(("queued", "running"))))
            if not busy:
                return
            if time.monotonic() > deadline:
                raise JobError(f"{busy} job(s) still unfinished after {timeout:.0f}s")
            time.sleep(interval)

    def join(self, timeout: float = 60.0) -> None:
        """Wait until every queue is empty (embedded broker; for tests and the demo seed)."""
        if not self.embedded:
            raise JobError("join() is only available on the embedded broker")
        for q in list(self.broker.queues):
            self.broker.join(q, timeout=int(timeout * 1000), fail_fast=False)
        if self._worker is not None:
            self._worker.join()

    def stop(self, timeout_ms: int = 5000, *, close_broker: bool = True) -> None:
        """Stop consuming. Jobs still running after ``timeout_ms`` are abandoned: their rows say
        ``running`` and they are re-sent (embedded) or re-queued by Redis (dead worker). With
        ``close_broker=False`` jobs can still be enqueued (their rows wait for the next start)."""
        with self._lock:
            if getattr(self, "_stop_schedules", None) is not None:
                self._stop_schedules.set()
            if getattr(self, "_stop_resend", None) is not None:
                self._stop_resend.set()
            if getattr(self, "_stop_heartbeat", None) is not None:
                self._stop_heartbeat.set()
            if self._worker is not None:
                self._worker.stop(timeout=timeout_ms)
                self._worker = None
        if close_broker:
            self.broker.close()
