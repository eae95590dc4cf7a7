-- 0004_document_attempts.sql — a document that stops the docworker is not retried for ever.
--
-- Before the docworker decodes a document it adds one to attempts, in its own committed
-- statement. A delivery that finds attempts >= DOCWORKER_MAX_ATTEMPTS ends the document as
-- error (document_crashed_worker) without decoding it: the earlier attempts each ended with
-- the worker gone before the result was written.
ALTER TABLE documents ADD COLUMN attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0);
