-- apalis.get_jobs, the claim behind every worker poll, as PL/pgSQL with the same body
-- (apalis-postgres 1.0.0's last migration, remove_pl_in_get_jobs, made it LANGUAGE sql).
--
-- A set-returning SQL function that updates cannot be inlined, and Postgres 15 parses
-- and plans its body again on every call: each poll paid a parse and a plan (measured
-- here: 0.44 ms per empty poll against 0.16 ms for this version, pgbench, one client).
-- A PL/pgSQL function keeps its statement's plan for the life of the connection. Every
-- worker polls on a timer and after every new job, so this is paid several times per
-- checkout and continuously at idle.
--
-- Same signature, same rows, same locking: rows due now, Pending or retryable Failed,
-- of the one job type, by priority then run_at, `for update skip locked`, marked
-- Queued and locked by the worker. apalis is pinned (=1.0.0); a future apalis migration
-- that redefines the function must be checked against this one.
create or replace function apalis.get_jobs(
    worker_id text,
    v_job_type text,
    v_job_count integer default 5
)
returns setof apalis.jobs
language plpgsql
volatile
as $$
begin
    return query
    with jobs as (
        select id
        from apalis.jobs
        where
            (status = 'Pending' or (status = 'Failed' and attempts < max_attempts))
            and run_at < now()
            and job_type = v_job_type
        order by priority desc, run_at asc
        limit v_job_count
        for update skip locked
    )
    update apalis.jobs j
    set status = 'Queued', lock_by = worker_id, lock_at = now()
    from jobs
    where j.id = jobs.id
    returning j.*;
end
$$;
