-- The queue-depth sampler (`jobs_ready`, `jobs_oldest_ready_seconds`, see
-- store::jobs::ready) counts the pending jobs of each queue whose run_at has passed and
-- reads the oldest. apalis's own fetch index puts priority between queue and run_at
-- and also holds retryable failed jobs, so on it the sampler would read every pending
-- job of a queue, future ones included (an expiry check per order awaiting payment).
-- This one holds pending jobs only, ordered by run_at within a queue: the count is a
-- range of it and the oldest its first entry, however many jobs are done.
create index if not exists jobs_pending_run_at on apalis.jobs (job_type, run_at)
    where status = 'Pending';
