-- 0001_seed_schema.sql — the seed's 13 tables and its "Key Indexes for Performance".
--
-- Conventions: tenant ids are text [A-Za-z0-9_-]{1,64}; every other id is a UUID (defaults to
-- gen_random_uuid(), PostgreSQL >= 13). Every tenant-owned row carries tenant_id, and a child
-- row's tenant is tied to its parent's by a composite foreign key (tenant_id, parent_id), so a
-- message can never belong to another tenant's session. Enumerations are CHECK constraints.
-- Times are timestamptz. JSON documents are jsonb.

-- ---- configuration cluster ----------------------------------------------------------------

CREATE TABLE tenants (
    tenant_id   text PRIMARY KEY CHECK (tenant_id ~ '^[A-Za-z0-9_-]{1,64}$'),
    name        text NOT NULL,
    is_active   boolean NOT NULL DEFAULT TRUE,
    settings    jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Chat models and embedding models alike. provider names are llm_provider_parse()'s.
CREATE TABLE llm_models (
    model_id        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    provider        text NOT NULL
                    CHECK (provider IN ('openai', 'anthropic', 'gemini', 'openrouter',
                                        'openai_compatible')),
    model_name      text NOT NULL CHECK (length(model_name) BETWEEN 1 AND 200),
    base_url        text,                       -- NULL: the provider's default endpoint
    context_window  integer CHECK (context_window IS NULL OR context_window > 0),
    max_output_tokens integer CHECK (max_output_tokens IS NULL OR max_output_tokens > 0),
    input_cost_per_mtok  numeric(12, 4),        -- USD per 1M tokens (seed "Provider Comparison")
    output_cost_per_mtok numeric(12, 4),
    is_active       boolean NOT NULL DEFAULT TRUE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT llm_models_provider_name_url_key
        UNIQUE NULLS NOT DISTINCT (provider, model_name, base_url)
);

-- One LLM configuration per tenant (seed: "Each tenant uses their own LLM API key").
-- encrypted_api_key is a Fernet token (FERNET_KEY); it is never returned by any API.
-- Embeddings: embedding_provider NULL or 'local' means the local lexical embedder.
CREATE TABLE tenant_llm_configs (
    config_id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id           text NOT NULL UNIQUE REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    model_id            uuid NOT NULL REFERENCES llm_models (model_id),
    encrypted_api_key   text,                   -- NULL: a keyless endpoint (local server)
    rate_limit_rpm      integer NOT NULL DEFAULT 60 CHECK (rate_limit_rpm >= 0), -- 0: unlimited
    fallback_model_id   uuid REFERENCES llm_models (model_id) ON DELETE SET NULL,
    temperature         double precision CHECK (temperature IS NULL OR temperature BETWEEN 0 AND 2),
    max_tokens          integer CHECK (max_tokens IS NULL OR max_tokens > 0),
    embedding_provider  text CHECK (embedding_provider IS NULL OR embedding_provider IN
                                    ('openai', 'gemini', 'openai_compatible', 'local')),
    embedding_model     text,
    embedding_base_url  text,
    encrypted_embedding_api_key text,           -- NULL: reuse encrypted_api_key
    is_active           boolean NOT NULL DEFAULT TRUE,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_tenant_llm_configs_model ON tenant_llm_configs (model_id);

-- ---- agent / tool cluster -----------------------------------------------------------------

CREATE TABLE output_formats (
    format_id    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name         text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
    format_type  text NOT NULL CHECK (format_type IN ('text', 'markdown', 'json', 'table')),
    description  text,
    schema       jsonb,                         -- JSON Schema of a json answer
    template     text,                          -- rendering template (table columns, markdown)
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- An agent's name is also its Kafka topic suffix (agenthub.agent.<name>), hence the charset.
CREATE TABLE agent_configs (
    agent_id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name              text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9_-]{1,100}$'),
    description       text NOT NULL DEFAULT '',
    prompt_template   text NOT NULL,
    llm_model_id      uuid REFERENCES llm_models (model_id) ON DELETE SET NULL, -- NULL: tenant's
    output_format_id  uuid REFERENCES output_formats (format_id) ON DELETE SET NULL,
    is_active         boolean NOT NULL DEFAULT TRUE,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- The seed's tool types and handlers (DB_QUERY is "future" in the seed and not offered).
CREATE TABLE base_tools (
    base_tool_id    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    type            text NOT NULL UNIQUE CHECK (type IN ('HTTP_GET', 'HTTP_POST', 'RAG', 'OCR')),
    handler_class   text NOT NULL,
    description     text NOT NULL DEFAULT '',
    default_config  jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- A tool's name is the function name the LLM sees (OpenAI: ^[a-zA-Z0-9_-]{1,64}$).
CREATE TABLE tool_configs (
    tool_id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name              text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9_-]{1,64}$'),
    base_tool_id      uuid NOT NULL REFERENCES base_tools (base_tool_id),
    description       text NOT NULL DEFAULT '',
    config            jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(config) = 'object'),
    input_schema      jsonb NOT NULL DEFAULT '{"type": "object", "properties": {}}'::jsonb,
    output_schema     jsonb,
    output_format_id  uuid REFERENCES output_formats (format_id) ON DELETE SET NULL,
    is_active         boolean NOT NULL DEFAULT TRUE,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_tool_configs_base_tool ON tool_configs (base_tool_id);

-- N:M agents <-> tools; lower priority loads first (at most 5 per agent at load time).
CREATE TABLE agent_tools (
    agent_id    uuid NOT NULL REFERENCES agent_configs (agent_id) ON DELETE CASCADE,
    tool_id     uuid NOT NULL REFERENCES tool_configs (tool_id) ON DELETE CASCADE,
    priority    integer NOT NULL DEFAULT 1 CHECK (priority >= 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (agent_id, tool_id)
);
CREATE INDEX idx_agent_tools_tool ON agent_tools (tool_id);

CREATE TABLE tenant_agent_permissions (
    tenant_id   text NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    agent_id    uuid NOT NULL REFERENCES agent_configs (agent_id) ON DELETE CASCADE,
    enabled     boolean NOT NULL DEFAULT TRUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, agent_id)
);
CREATE INDEX idx_tenant_agent_permissions_agent ON tenant_agent_permissions (agent_id);

CREATE TABLE tenant_tool_permissions (
    tenant_id   text NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    tool_id     uuid NOT NULL REFERENCES tool_configs (tool_id) ON DELETE CASCADE,
    enabled     boolean NOT NULL DEFAULT TRUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, tool_id)
);
CREATE INDEX idx_tenant_tool_permissions_tool ON tenant_tool_permissions (tool_id);

-- ---- conversation cluster -----------------------------------------------------------------

-- A session is soft-deleted (deleted_at set) by DELETE /sessions/{id}; queries skip those.
CREATE TABLE sessions (
    session_id       uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id        text NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    user_id          text NOT NULL CHECK (length(user_id) BETWEEN 1 AND 128),
    agent_id         uuid REFERENCES agent_configs (agent_id) ON DELETE SET NULL, -- last agent
    title            text,
    metadata         jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    last_message_at  timestamptz,
    deleted_at       timestamptz,
    CONSTRAINT sessions_tenant_session_key UNIQUE (tenant_id, session_id)
);

CREATE TABLE messages (
    message_id  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    session_id  uuid NOT NULL,
    tenant_id   text NOT NULL,
    role        text NOT NULL CHECK (role IN ('user', 'assistant', 'system', 'tool')),
    content     text NOT NULL,
    metadata    jsonb NOT NULL DEFAULT '{}'::jsonb,
    timestamp   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT messages_session_fkey FOREIGN KEY (tenant_id, session_id)
        REFERENCES sessions (tenant_id, session_id) ON DELETE CASCADE
);

-- ---- state management (LangGraph PostgresSaver's role) --------------------------------------

-- thread_id follows the seed: tenant_{tenant}__user_{user}__session_{session}.
CREATE TABLE checkpoints (
    thread_id             text NOT NULL,
    checkpoint_id         text NOT NULL,
    tenant_id             text NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    parent_checkpoint_id  text,
    state                 jsonb NOT NULL,
    metadata              jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (thread_id, checkpoint_id)
);
CREATE INDEX idx_checkpoints_tenant_thread ON checkpoints (tenant_id, thread_id, created_at DESC);

-- ---- the seed's "Key Indexes for Performance", exactly as named -----------------------------

-- Multi-tenant isolation
CREATE INDEX idx_sessions_tenant_user
  ON sessions (tenant_id, user_id, created_at DESC);

-- Agent permission lookup
CREATE INDEX idx_tenant_agent_perms
  ON tenant_agent_permissions (tenant_id, agent_id)
  WHERE enabled = TRUE;

-- Tool permission lookup
CREATE INDEX idx_tenant_tool_perms
  ON tenant_tool_permissions (tenant_id, tool_id)
  WHERE enabled = TRUE;

-- Priority-based tool filtering
CREATE INDEX idx_agent_tools_priority
  ON agent_tools (agent_id, priority ASC);

-- Message chronological retrieval
CREATE INDEX idx_messages_session_time
  ON messages (session_id, timestamp ASC);

-- ---- reference data: the seed's base tool types ("Tool Types & Handlers") --------------------

INSERT INTO base_tools (type, handler_class, description, default_config) VALUES
  ('HTTP_GET',  'tools.http.HTTPGetTool',  'Retrieve data from REST APIs',
   '{"timeout_ms": 10000}'),
  ('HTTP_POST', 'tools.http.HTTPPostTool', 'Submit data to external systems',
   '{"timeout_ms": 10000}'),
  ('RAG',       'tools.rag.RAGTool',       'Search the tenant''s knowledge base in ChromaDB',
   '{"top_k": 5, "similarity_threshold": 0.0}'),
  ('OCR',       'tools.ocr.OCRTool',       'Extract text from documents',
   '{"supported_formats": ["image/png", "image/jpeg", "image/tiff", "application/pdf"]}')
ON CONFLICT (type) DO NOTHING;
