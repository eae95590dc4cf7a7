-- 0008: documents page by page. A PDF or a multi-page TIFF is read one page at a time: a text
-- page's text is extracted directly, a scanned page is rendered and OCRed. Each page's result
-- is kept here, so that a chat attachment or a knowledge-base chunk can cite its page.
-- documents.text stays the whole document's text (pages joined by a form feed, '\f').
CREATE TABLE document_pages (
    document_id  uuid NOT NULL REFERENCES documents (document_id) ON DELETE CASCADE,
    tenant_id    text NOT NULL,
    page         integer NOT NULL CHECK (page >= 1),
    method       text NOT NULL CHECK (method IN ('text', 'ocr')),
    text         text NOT NULL DEFAULT '',
    confidence   real CHECK (confidence IS NULL OR (confidence >= 0 AND confidence <= 100)),
    error        text,                    -- this page failed (the document may still succeed)
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (document_id, page)
);
CREATE INDEX document_pages_tenant_idx ON document_pages (tenant_id, document_id);
