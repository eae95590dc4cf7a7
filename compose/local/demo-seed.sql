-- demo-seed.sql — demo tenants, agents, tools and permissions (idempotent: run it again to
-- update). compose/local/demo and the end-to-end tests load it with psql variables:
--
--   psql -v ON_ERROR_STOP=1 -v erp_url=http://127.0.0.1:18090 \
--        -v llm_provider=openai_compatible -v llm_model=standin-1 \
--        -v llm_base_url=http://127.0.0.1:18091/v1 -v llm_key= -v llm_rpm=0 -f demo-seed.sql
--
-- llm_key is the provider API key already Fernet-encrypted with FERNET_KEY (empty: keyless,
-- e.g. the stand-in LLM); llm_base_url empty means the provider's default endpoint.
--
-- Tenants:
--   demo  AgentDebt, AgentShipment, AgentAnalysis and all their tools, and AgentOCR (no tools:
--         it answers about the documents attached to a chat message, which the router sends
--         it; ROUTER_ATTACHMENT_AGENT)
--   acme  AgentDebt and AgentAnalysis only (no AgentShipment), and get_customer_debt disabled:
--         its AgentDebt has no tool, so the ERP never sees a request on acme's behalf.

\set ON_ERROR_STOP 1
BEGIN;

INSERT INTO tenants (tenant_id, name) VALUES
  ('demo', 'Demo Trading Co.'),
  ('acme', 'ACME Logistics')
ON CONFLICT (tenant_id) DO UPDATE SET name = EXCLUDED.name, is_active = TRUE;

-- ---- the LLM both tenants use ----------------------------------------------------------------
INSERT INTO llm_models (provider, model_name, base_url, context_window, max_output_tokens)
VALUES (:'llm_provider', :'llm_model', NULLIF(:'llm_base_url', ''), 128000, 2048)
ON CONFLICT ON CONSTRAINT llm_models_provider_name_url_key DO UPDATE SET is_active = TRUE;

INSERT INTO tenant_llm_configs (tenant_id, model_id, encrypted_api_key, rate_limit_rpm,
                                temperature, max_tokens, embedding_provider)
SELECT t.tenant_id, m.model_id, NULLIF(:'llm_key', ''), (:'llm_rpm')::int, 0.2, 1024, 'local'
FROM (VALUES ('demo'), ('acme')) AS t (tenant_id),
     llm_models m
WHERE m.provider = :'llm_provider' AND m.model_name = :'llm_model'
  AND m.base_url IS NOT DISTINCT FROM NULLIF(:'llm_base_url', '')
ON CONFLICT (tenant_id) DO UPDATE SET model_id = EXCLUDED.model_id,
    encrypted_api_key = EXCLUDED.encrypted_api_key, rate_limit_rpm = EXCLUDED.rate_limit_rpm,
    is_active = TRUE, updated_at = now();

-- ---- output formats ---------------------------------------------------------------------------
INSERT INTO output_formats (format_id, name, format_type, description) VALUES
  ('f0000000-0000-4000-8000-000000000001', 'markdown', 'markdown', 'Markdown answer'),
  ('f0000000-0000-4000-8000-000000000002', 'text', 'text', 'Plain text answer'),
  ('f0000000-0000-4000-8000-000000000003', 'json', 'json', 'JSON {answer, data}'),
  ('f0000000-0000-4000-8000-000000000004', 'table', 'table', 'Answer plus a data table')
ON CONFLICT (name) DO NOTHING;

-- ---- agents -----------------------------------------------------------------------------------
INSERT INTO agent_configs (agent_id, name, description, prompt_template, output_format_id) VALUES
  ('a0000000-0000-4000-8000-000000000001', 'AgentDebt',
   'Customer debt and outstanding balance by tax code (MST); công nợ khách hàng theo mã số thuế',
   'You are AgentDebt, the accounts-receivable assistant of the company. Look up a customer''s '
   'debt by tax code (MST: 10 digits, optionally -3 digits) with get_customer_debt and report '
   'the total debt, the overdue part and the next due date. Never guess figures.',
   (SELECT format_id FROM output_formats WHERE name = 'markdown')),
  ('a0000000-0000-4000-8000-000000000002', 'AgentShipment',
   'Shipment tracking and order delivery status by tracking number or order id; theo dõi vận đơn, đơn hàng',
   'You are AgentShipment, the logistics assistant. Use get_shipment_status for a tracking '
   'number and get_order_status for an order id, then tell the user where the parcel is and '
   'when it is expected.',
   (SELECT format_id FROM output_formats WHERE name = 'table')),
  ('a0000000-0000-4000-8000-000000000003', 'AgentAnalysis',
   'Company policy (returns, refunds, payment terms, shipping rules), product knowledge base and business analysis reports; chính sách, báo cáo phân tích',
   'You are AgentAnalysis, the knowledge and analysis assistant. Answer from the knowledge base '
   '(search_knowledge_base) and cite the source document of every fact. For a sales or debt '
   'analysis report use create_analysis_report.',
   (SELECT format_id FROM output_formats WHERE name = 'markdown')),
  ('a0000000-0000-4000-8000-000000000004', 'AgentOCR',
   'Attached documents and scans (OCR): summary, requested fields and language of an attached invoice, contract or letter',
   'You are AgentOCR, the document assistant. The user''s message comes with the text of the '
   'documents attached to it, page by page, each page labelled with its document and page '
   'number. Answer only from that text: a short summary when asked for one, the fields the '
   'user asks for (invoice number, dates, parties, amounts, the total) exactly as written, and '
   'the language the document is written in. Cite the document and page of every fact as '
   '[document "<filename>" page <n>]. If the text does not hold what is asked, say so; never '
   'guess figures.',
   (SELECT format_id FROM output_formats WHERE name = 'markdown'))
ON CONFLICT (name) DO UPDATE SET description = EXCLUDED.description,
    prompt_template = EXCLUDED.prompt_template, output_format_id = EXCLUDED.output_format_id,
    is_active = TRUE, updated_at = now();

-- ---- tools ------------------------------------------------------------------------------------
INSERT INTO tool_configs (tool_id, name, base_tool_id, description, config, input_schema,
                          output_schema) VALUES
  ('b0000000-0000-4000-8000-000000000001', 'get_customer_debt',
   (SELECT base_tool_id FROM base_tools WHERE type = 'HTTP_GET'),
   'Retrieve a customer''s debt (total, overdue, due dates) by tax code MST',
   jsonb_build_object('endpoint', :'erp_url' || '/api/debt/{mst}', 'method', 'GET',
                      'inject_jwt', true, 'timeout_ms', 5000),
   '{"type": "object", "properties": {"mst": {"type": "string",
     "pattern": "^[0-9]{10}(-[0-9]{3})?$", "description": "customer tax code (MST)"}},
     "required": ["mst"], "additionalProperties": false}',
   NULL),
  ('b0000000-0000-4000-8000-000000000002', 'get_shipment_status',
   (SELECT base_tool_id FROM base_tools WHERE type = 'HTTP_GET'),
   'Shipment status and location by tracking number',
   jsonb_build_object('endpoint', :'erp_url' || '/api/shipments/{tracking_number}',
                      'method', 'GET', 'inject_jwt', true, 'timeout_ms', 5000),
   '{"type": "object", "properties": {"tracking_number": {"type": "string",
     "pattern": "^[A-Z]{2}[0-9]{9}$", "description": "shipment tracking number, e.g. VN123456789"}},
     "required": ["tracking_number"], "additionalProperties": false}',
   NULL),
  ('b0000000-0000-4000-8000-000000000003', 'get_order_status',
   (SELECT base_tool_id FROM base_tools WHERE type = 'HTTP_GET'),
   'Order status and delivery by order id',
   jsonb_build_object('endpoint', :'erp_url' || '/api/orders/{order_id}', 'method', 'GET',
                      'inject_jwt', true, 'timeout_ms', 5000),
   '{"type": "object", "properties": {"order_id": {"type": "string",
     "pattern": "^ORD-[0-9]{3,10}$", "description": "order id, e.g. ORD-1001"}},
     "required": ["order_id"], "additionalProperties": false}',
   NULL),
  ('b0000000-0000-4000-8000-000000000004', 'search_knowledge_base',
   (SELECT base_tool_id FROM base_tools WHERE type = 'RAG'),
   'Search the company knowledge base (policies, products, procedures)',
   '{"top_k": 3, "similarity_threshold": 0.0}',
   '{"type": "object", "properties": {"query": {"type": "string", "minLength": 1,
     "maxLength": 500, "description": "what to look for"}}, "required": ["query"]}',
   NULL),
  ('b0000000-0000-4000-8000-000000000005', 'create_analysis_report',
   (SELECT base_tool_id FROM base_tools WHERE type = 'HTTP_POST'),
   'Create a business analysis report (revenue, debt, orders, shipments, overdue debt) for a period',
   jsonb_build_object('endpoint', :'erp_url' || '/api/analysis/report', 'method', 'POST',
                      'inject_jwt', true, 'timeout_ms', 10000),
   '{"type": "object", "properties": {"metric": {"type": "string",
     "enum": ["revenue", "debt", "orders", "shipments", "overdue_debt"]},
     "period": {"type": "string", "pattern": "^[0-9]{4}(-(Q[1-4]|[0-9]{2}))?$"}},
     "required": ["metric"], "additionalProperties": false}',
   NULL)
ON CONFLICT (name) DO UPDATE SET description = EXCLUDED.description, config = EXCLUDED.config,
    input_schema = EXCLUDED.input_schema, base_tool_id = EXCLUDED.base_tool_id,
    is_active = TRUE, updated_at = now();

INSERT INTO agent_tools (agent_id, tool_id, priority)
SELECT a.agent_id, t.tool_id, v.priority
FROM (VALUES ('AgentDebt', 'get_customer_debt', 1),
             ('AgentShipment', 'get_shipment_status', 1),
             ('AgentShipment', 'get_order_status', 2),
             ('AgentAnalysis', 'search_knowledge_base', 1),
             ('AgentAnalysis', 'create_analysis_report', 2)) AS v (agent, tool, priority)
JOIN agent_configs a ON a.name = v.agent
JOIN tool_configs t ON t.name = v.tool
ON CONFLICT (agent_id, tool_id) DO UPDATE SET priority = EXCLUDED.priority;

-- ---- permissions ------------------------------------------------------------------------------
INSERT INTO tenant_agent_permissions (tenant_id, agent_id, enabled)
SELECT v.tenant, a.agent_id, v.enabled
FROM (VALUES ('demo', 'AgentDebt', true), ('demo', 'AgentShipment', true),
             ('demo', 'AgentAnalysis', true), ('demo', 'AgentOCR', true),
             ('acme', 'AgentDebt', true), ('acme', 'AgentAnalysis', true),
             ('acme', 'AgentShipment', false)) AS v (tenant, agent, enabled)
JOIN agent_configs a ON a.name = v.agent
ON CONFLICT (tenant_id, agent_id) DO UPDATE SET enabled = EXCLUDED.enabled, updated_at = now();

INSERT INTO tenant_tool_permissions (tenant_id, tool_id, enabled)
SELECT v.tenant, t.tool_id, v.enabled
FROM (VALUES ('demo', 'get_customer_debt', true), ('demo', 'get_shipment_status', true),
             ('demo', 'get_order_status', true), ('demo', 'search_knowledge_base', true),
             ('demo', 'create_analysis_report', true),
             ('acme', 'get_customer_debt', false), ('acme', 'search_knowledge_base', true),
             ('acme', 'create_analysis_report', true)) AS v (tenant, tool, enabled)
JOIN tool_configs t ON t.name = v.tool
ON CONFLICT (tenant_id, tool_id) DO UPDATE SET enabled = EXCLUDED.enabled, updated_at = now();

COMMIT;
