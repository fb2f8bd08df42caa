-- apalis.jobs: every step's claim and ack write a job row, so its indexes are on the
-- hot path of every checkout.
--
-- apalis acknowledges a job with `... where jobs.lock_by = $worker and jobs.id = $task
-- for update` (queries/task/handle_result.sql), planned as a scan of the lock_by index
-- for the worker. Done jobs kept their lock_by until the scheduler prunes them, so
-- each ack walked every job its worker had ever run: thousands of index entries after
-- a few minutes at 20 checkouts/s and more with every minute of uptime (measured: 6.2 M
-- index tuples read for 2,900 acks). Nothing needs the worker of a finished job (orphan
-- re-enqueue, shutdown re-enqueue and `checkout admin jobs --stuck` look only at Queued
-- and Running jobs), so a finished job forgets it, and the index holds live jobs only.
create function apalis_job_forget_worker() returns trigger
language plpgsql as $$
begin
    new.lock_by := null;
    return new;
end
$$;

create trigger jobs_finished_forget_worker
    before update of status on apalis.jobs
    for each row
    when (new.status in ('Done', 'Killed') and new.lock_by is not null)
    execute function apalis_job_forget_worker();

update apalis.jobs set lock_by = null where status in ('Done', 'Killed') and lock_by is not null;

-- apalis's migrations left two plain lock_by indexes and a unique index on id beside
-- the primary key; each update of a job maintained all of them.
drop index if exists apalis.idx_apalis_jobs_lock_by;
drop index if exists apalis.lidx;
drop index if exists apalis.unique_job_id;
create index if not exists jobs_lock_by on apalis.jobs (lock_by) where lock_by is not null;
