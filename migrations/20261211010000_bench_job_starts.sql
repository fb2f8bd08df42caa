-- When each `bench` job of `checkout loadtest jobs --scenario latency` started, written
-- by the job itself at its start (the handler's clock, taken before this insert), so the
-- harness can subtract the instant its enqueue committed. Empty outside benchmarks; the
-- harness clears it before each run.
create table bench_job_starts (
    seq bigint primary key,
    started_at timestamptz not null
);
