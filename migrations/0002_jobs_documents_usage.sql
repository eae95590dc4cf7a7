-- 0002_jobs_documents_usage.sql — what the Kafka job design (DESIGN.md) adds to the seed:
-- durable job state, the assistant-message idempotency guard, batch OCR, token usage and
-- RAG ingestion bookkeeping.

-- ---- jobs -------------------------------------------------------------------------------------

-- One row per chat request. status moves queued -> routed -> running -> done | error (done and
-- error are terminal). A MULTI_INTENT job has parts_total > 1 and is done when every part is.
-- idempotency_key: the client's Idempotency-Key; a repeat with the same key returns the same
-- job (request_hash tells a true repeat from a conflicting reuse of the key).
CREATE TABLE jobs (
    job_id                uuid PRIMARY KEY,
    tenant_id             text NOT NULL,
    session_id            uuid NOT NULL,
    user_id               text NOT NULL,
    user_message_id       uuid REFERENCES messages (message_id) ON DELETE SET NULL,
    assistant_message_id  uuid REFERENCES messages (message_id) ON DELETE SET NULL,
    status                text NOT NULL DEFAULT 'queued'
                          CHECK (status IN ('queued', 'routed', 'running', 'done', 'error')),
    agent                 text,                -- agent name(s) it was routed to
    intent                text,
    language              text,
    response              text,                -- the final answer (done)
    metadata              jsonb NOT NULL DEFAULT '{}'::jsonb,
    error                 jsonb,               -- {"code","message"} (error)
    idempotency_key       text CHECK (idempotency_key IS NULL OR length(idempotency_key) <= 255),
    request_hash          text,
    parts_total           integer NOT NULL DEFAULT 1 CHECK (parts_total >= 1),
    parts_done            integer NOT NULL DEFAULT 0 CHECK (parts_done >= 0),
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT jobs_parts_check CHECK (parts_done <= parts_total),
    -- NULL keys never conflict, so this is "unique where idempotency_key is not null", and it
    -- still serves INSERT ... ON CONFLICT (tenant_id, idempotency_key).
    CONSTRAINT jobs_tenant_idempotency_key UNIQUE (tenant_id, idempotency_key),
    CONSTRAINT jobs_session_fkey FOREIGN KEY (tenant_id, session_id)
        REFERENCES sessions (tenant_id, session_id) ON DELETE CASCADE
);
CREATE INDEX idx_jobs_tenant_session ON jobs (tenant_id, session_id, created_at DESC);
CREATE INDEX idx_jobs_unfinished ON jobs (updated_at) WHERE status NOT IN ('done', 'error');

-- The idempotency guard for redelivered jobs: an assistant message written for a job carries
-- job_id and part (0 for a single-intent job, the part index for MULTI_INTENT), and
--   INSERT INTO messages (..., job_id, part) ... ON CONFLICT (tenant_id, job_id, part) DO NOTHING
-- makes a second delivery write nothing. Rows without job_id (NULL) never conflict.
ALTER TABLE messages ADD COLUMN job_id uuid;
ALTER TABLE messages ADD COLUMN part integer CHECK (part IS NULL OR part >= 0);
ALTER TABLE messages ADD CONSTRAINT messages_job_part_key UNIQUE (tenant_id, job_id, part);
ALTER TABLE messages ADD CONSTRAINT messages_assistant_part_check
    CHECK (job_id IS NULL OR role <> 'assistant' OR part IS NOT NULL);

-- ---- batch documents (OCR) ----------------------------------------------------------------

-- A batch is done when every document is done or error: total = succeeded + failed.
CREATE TABLE document_batches (
    batch_id    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id   text NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    user_id     text NOT NULL,
    status      text NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'running', 'done', 'error')),
    total       integer NOT NULL DEFAULT 0 CHECK (total >= 0),
    succeeded   integer NOT NULL DEFAULT 0 CHECK (succeeded >= 0),
    failed      integer NOT NULL DEFAULT 0 CHECK (failed >= 0),
    metadata    jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT document_batches_counts_check CHECK (succeeded + failed <= total),
    CONSTRAINT document_batches_tenant_batch_key UNIQUE (tenant_id, batch_id)
);
CREATE INDEX idx_document_batches_tenant ON document_batches (tenant_id, created_at DESC);

-- content holds the uploaded bytes until the docworker has processed them (it may clear it).
CREATE TABLE documents (
    document_id   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    batch_id      uuid NOT NULL,
    tenant_id     text NOT NULL,
    filename      text NOT NULL CHECK (length(filename) BETWEEN 1 AND 255),
    content_type  text NOT NULL DEFAULT 'application/octet-stream',
    size_bytes    bigint NOT NULL DEFAULT 0 CHECK (size_bytes >= 0),
    sha256        text,
    content       bytea,
    status        text NOT NULL DEFAULT 'queued'
                  CHECK (status IN ('queued', 'running', 'done', 'error')),
    text          text,                         -- the extracted text (done)
    pages         integer CHECK (pages IS NULL OR pages >= 0),
    error         text,                         -- why it failed (error)
    metadata      jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT documents_batch_fkey FOREIGN KEY (tenant_id, batch_id)
        REFERENCES document_batches (tenant_id, batch_id) ON DELETE CASCADE
);
CREATE INDEX idx_documents_batch ON documents (batch_id, created_at);

-- ---- token usage, per tenant, day and model ----------------------------------------------

-- Accumulated with INSERT ... ON CONFLICT (tenant_id, day, model) DO UPDATE SET
--   input_tokens = usage.input_tokens + EXCLUDED.input_tokens, ...
CREATE TABLE usage (
    tenant_id      text NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    day            date NOT NULL DEFAULT CURRENT_DATE,
    model          text NOT NULL,
    input_tokens   bigint NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
    output_tokens  bigint NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
    calls          bigint NOT NULL DEFAULT 0 CHECK (calls >= 0),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, day, model)
);

-- ---- knowledge base (RAG) ingestion bookkeeping ------------------------------------------

-- The vectors live in ChromaDB (one collection per tenant); this records what was added so
-- it can be listed, re-ingested or removed. doc_id is the admin's id or a generated UUID.
CREATE TABLE knowledge_documents (
    tenant_id    text NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    doc_id       text NOT NULL CHECK (length(doc_id) BETWEEN 1 AND 200),
    source       text,                          -- file name or URL it came from
    title        text,
    chunk_count  integer NOT NULL DEFAULT 0 CHECK (chunk_count >= 0),
    sha256       text,
    metadata     jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, doc_id)
);
