-- Per-session order across agents and processes (common/session_order.h).
--
-- jobs.session_seq: the job's place in its session, assigned by the router, which takes a
-- session's requests one at a time in the order the ingress accepted them (one partition of
-- agenthub.chat.requests per session). A stage that answers a job first waits until every
-- earlier job of the session is done or error, woken by the NOTIFY below.
ALTER TABLE jobs ADD COLUMN session_seq bigint CHECK (session_seq IS NULL OR session_seq > 0);
CREATE UNIQUE INDEX idx_jobs_session_seq ON jobs (tenant_id, session_id, session_seq)
    WHERE session_seq IS NOT NULL;

-- Every job that becomes terminal is announced on channel agenthub_job_terminal (payload: its
-- job_id), after its transaction commits.
CREATE FUNCTION agenthub_job_terminal_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('agenthub_job_terminal', NEW.job_id::text);
    RETURN NULL;
END $$;
CREATE TRIGGER jobs_terminal_notify AFTER UPDATE OF status ON jobs
    FOR EACH ROW WHEN (NEW.status IN ('done', 'error') AND OLD.status NOT IN ('done', 'error'))
    EXECUTE FUNCTION agenthub_job_terminal_notify();
