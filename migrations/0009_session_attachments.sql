-- 0009: documents in a chat and in the knowledge base (issue 15, parts 2 and 3).
--
-- session_attachments: the documents a session's messages reference, or that were uploaded to
-- the session (POST /api/{t}/sessions/{id}/attachments). A document belongs to the user who
-- uploaded it (document_batches.user_id); the ingress lets a user attach only its own, and a
-- tenant admin any of its tenant's. A row goes with its session or its document.
CREATE TABLE session_attachments (
    tenant_id    text NOT NULL,
    session_id   uuid NOT NULL,
    document_id  uuid NOT NULL REFERENCES documents (document_id) ON DELETE CASCADE,
    user_id      text NOT NULL,                 -- who attached it
    origin       text NOT NULL CHECK (origin IN ('upload', 'message')),
    message_id   uuid,                          -- the first message that referenced it
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, session_id, document_id),
    CONSTRAINT session_attachments_session_fkey FOREIGN KEY (tenant_id, session_id)
        REFERENCES sessions (tenant_id, session_id) ON DELETE CASCADE
);
CREATE INDEX session_attachments_document_idx ON session_attachments (document_id);

-- knowledge_ingests: one ingestion of a batch (or chosen documents of it) into the tenant's
-- knowledge base; polled for progress (GET /api/admin/knowledge/ingest/{ingest_id}).
CREATE TABLE knowledge_ingests (
    ingest_id    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id    text NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    batch_id     uuid NOT NULL,
    actor        text NOT NULL,
    status       text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'error')),
    total        integer NOT NULL DEFAULT 0 CHECK (total >= 0),
    done         integer NOT NULL DEFAULT 0 CHECK (done >= 0),
    failed       integer NOT NULL DEFAULT 0 CHECK (failed >= 0),
    chunks       integer NOT NULL DEFAULT 0 CHECK (chunks >= 0),
    documents    jsonb NOT NULL DEFAULT '[]'::jsonb,  -- [{document_id, filename, status, chunks, error?}]
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX knowledge_ingests_tenant_idx ON knowledge_ingests (tenant_id, batch_id, created_at DESC);
